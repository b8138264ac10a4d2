"Integration tests of neuralblitz_lab.spectra.rmt against WeightWatcher 0.7.7 and the powerlaw package (same data)."
import contextlib, io, logging, math, warnings

import numpy as np
import pytest
import torch
from torch import nn

from neuralblitz_lab.spectra.rmt import WeightSpectra, powerlaw_fit


def _student_t_linear(n_out, n_in, seed):
    g = torch.Generator().manual_seed(seed); lin = nn.Linear(n_in, n_out)
    z = torch.randn(n_out, n_in, generator=g); chi = torch.randn(n_out, n_in, 3, generator=g).square().sum(-1) / 3
    with torch.no_grad(): lin.weight.copy_(z / chi.sqrt() / n_in ** 0.5)
    return lin


def test_alpha_matches_weightwatcher():
    ww = pytest.importorskip("weightwatcher"); logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    model = nn.Sequential(_student_t_linear(200, 80, 0), nn.ReLU(), _student_t_linear(60, 200, 1), nn.ReLU(),
                          _student_t_linear(10, 60, 2), nn.Conv2d(3, 16, 3))
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore"); theirs = ww.WeightWatcher().analyze(model=model)
    ours = WeightSpectra().fit(model).transform()
    assert len(theirs) == len(ours) == 4
    for col in ("alpha", "xmin", "num_pl_spikes", "log_norm", "log_spectral_norm", "stable_rank", "alpha_weighted", "num_evals",
                "D", "sigma", "xmax", "lambda_max", "sv_max", "sv_min", "rank_loss", "weak_rank_loss", "matrix_rank", "entropy",
                "log_alpha_norm", "N", "M", "rf"):
        np.testing.assert_allclose(ours[col].to_numpy(float), theirs[col].to_numpy(float), rtol=1e-3, atol=1e-4, err_msg=col)


@pytest.mark.parametrize("alpha", [2.0, 3.0, 4.0])
def test_alpha_matches_powerlaw_package(alpha):
    powerlaw = pytest.importorskip("powerlaw")
    rng = np.random.default_rng(int(alpha))
    x = 0.5 * (1 - rng.random(1500)) ** (-1 / (alpha - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(x, verbose=False, parameter_ranges={"alpha": [1, 20]})  # default range (0, 3) caps alpha at 3
    ours = powerlaw_fit(torch.tensor(x)[None], method="clauset", alpha_range=(1, 20))
    assert abs(float(ours["alpha"][0]) - fit.alpha) < 0.05
    assert abs(float(ours["alpha"][0]) - alpha) < 0.3


def test_cpu_kernels_match_torch_on_zoo_layers():
    "The numba CPU kernels (power law, MP fit, row statistics) against the torch reference on every layer of zoo CNNs."
    from pathlib import Path
    from neuralblitz_lab.cnn import N_PARAMS
    from neuralblitz_lab.spectra.rmt import analyze_layer, zoo_layers
    zoo_dir = Path(__file__).resolve().parents[1] / "data" / "zoos" / "small"
    if (zoo_dir / "manifest.json").is_file():  # trained weights when the small zoo is there
        from neuralblitz_lab.zoo.store import Zoo
        flat = Zoo(zoo_dir, verify=False).weights()[:300]
    else:
        flat = torch.randn(300, N_PARAMS, generator=torch.Generator().manual_seed(0)) * 0.2
    for name, w in zoo_layers(flat).items():
        ref, ours = analyze_layer(w, backend="torch"), analyze_layer(w)
        assert list(ours) == list(ref)
        np.testing.assert_array_equal(ours["num_pl_spikes"].numpy(), ref["num_pl_spikes"].numpy(), err_msg=name)  # same xmin chosen
        np.testing.assert_array_equal(ours["num_spikes"].numpy(), ref["num_spikes"].numpy(), err_msg=name)
        for col in ours:  # float32 data: the kernels compute in float64, torch in float32
            a, b = np.asarray(ours[col], dtype=float), np.asarray(ref[col], dtype=float)
            if col == "log_alpha_norm":  # a large alpha underflows float32's sum of lambda^alpha (-inf); float64 (and WW) stay finite
                assert np.isfinite(a[np.isneginf(b)]).all(); a, b = a[~np.isneginf(b)], b[~np.isneginf(b)]
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6, equal_nan=True, err_msg=f"{name}.{col}")
