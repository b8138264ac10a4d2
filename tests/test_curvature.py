"""Integration tests of neuralblitz_lab.curvature: K-FAC factors against curvlinops (a reference library), the zoo trainer's
K-FAC option, and the curvature report end to end in `tiny`."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from neuralblitz_lab.cnn import init_zoo_params, params_to_flat
from neuralblitz_lab.curvature.kfac import kfac_factors, kfac_mv
from neuralblitz_lab.data import load_dataset
from neuralblitz_lab.zoo.train import ModelGroup, TrainConfig, _build_config, _train_fields, train_group

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from curvature import module_of  # noqa: E402  (the nn.Module twin of a functional CNN, shared with the benchmark)


@pytest.fixture(autouse=True)
def one_thread():
    "Small tensors: one intra-op thread avoids OpenMP hand-off stalls when the cores are busy."
    n = torch.get_num_threads(); torch.set_num_threads(1); yield; torch.set_num_threads(n)


@pytest.mark.parametrize("activation,ours,theirs", [("relu", "empirical", "empirical"), ("tanh", "exact", "type-2")])
def test_kfac_factors_match_curvlinops(activation, ours, theirs):
    if importlib.util.find_spec("curvlinops") is None:
        pytest.fail("curvlinops-for-pytorch is not installed: `.venv/bin/pip install --no-deps curvlinops-for-pytorch einops "
                    "opt-einsum linear_operator backpack-for-pytorch einconv unfoldnd` (a dev requirement)")
    from curvlinops import KFACLinearOperator
    g = torch.Generator().manual_seed(0)
    flat = (params_to_flat(init_zoo_params("kaiming_uniform", 1, 0)) + 0.05 * torch.randn(1, 2464, generator=g)).double()
    x = torch.randn(12, 1, 28, 28, generator=g, dtype=torch.float64); y = torch.randint(0, 10, (12,), generator=g)
    model, names = module_of(flat[0], activation)
    K = KFACLinearOperator(model, torch.nn.CrossEntropyLoss(), list(model.parameters()), [(x, y)], fisher_type=theirs,
                           separate_weight_and_bias=False, check_deterministic=False)
    K.compute_kronecker_factors()
    mine = kfac_factors(flat, x, y, activation, ours)
    for layer, mod in names.items():
        for a, b in ((mine[layer][0][0], K._input_covariances[mod]), (mine[layer][1][0], K._gradient_covariances[mod])):
            assert float((a - b).norm() / b.norm()) < 1e-5, layer
    # the product (A ⊗ G) v, against curvlinops' matmat on the parameter list (the Sequential's order is the flat order)
    from neuralblitz_lab.cnn import flat_to_params
    v = torch.randn(1, 2464, generator=g, dtype=torch.float64)
    ours_mv = flat_to_params(kfac_mv(mine, v)[0])
    theirs_mv = K @ list(flat_to_params(v[0]).values())
    for (name, o), t in zip(ours_mv.items(), theirs_mv):
        assert float((o - t).norm() / t.norm()) < 1e-5, name


def test_trainer_kfac_option_trains_and_leaves_stored_configs_alone():
    ds = load_dataset("small")  # 400 training images per class: 13-25 steps in the one epoch
    g = ModelGroup("relu", "kaiming_uniform", 0, (0, 1, 2), ((0, 1), (2, 7), (0, 1, 2, 3)), (5, 6, 7))
    w, rows = train_group(g, ds, TrainConfig(max_epochs=1, epoch_bins=(1,), optimizer="kfac"), "cpu")
    assert w.shape == (3, 2464) and torch.isfinite(w).all()
    assert (rows.test_acc > 0.8).all(), rows  # chance: 0.5 and 0.25 (Adam's first epoch is near chance: its cyclic rate starts at 1e-4)
    assert "optimizer" not in _train_fields(TrainConfig()) and _train_fields(TrainConfig(optimizer="kfac"))["optimizer"] == "kfac"
    from neuralblitz_lab.core import get_profile
    assert "optimizer" not in _build_config(get_profile("tiny"), 0, TrainConfig(), 4, ds)["train"]


def test_report_runs_in_tiny(tmp_path):
    r = subprocess.run([str(Path(sys.executable).parent / "nblab"), "reproduce", "--profile", "tiny", "--only",
                        "08_curvature_report", "--root", str(tmp_path), "--no-progress"], cwd=ROOT, capture_output=True,
                       text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "figures/08_curvature_report"
    pb = pd.read_csv(out / "pac_bayes_bounds.csv")
    assert (pb.maurer >= pb.test_err_q).all() and (pb.maurer <= pb.mcallester + 1e-12).all()
    opt = pd.read_csv(out / "kfac_vs_adam.csv")
    assert set(opt.optimizer) == {"adam", "kfac"}
