"""Spectral analysis throughput: WeightWatcher (one model at a time) against `spectra.WeightSpectra` (a zoo at once).

    python bench/spectra_throughput.py [--device cpu|cuda] [--models N] [--ww-models M] [--threads T] [--repeats R] [--quick]

Both run the full per-layer analysis on the same zoo CNNs (the `small` zoo's checkpoints, tiled to `--models`): ESD of
every Linear/Conv2d layer (conv slices pooled, WeightWatcher's default), power-law alpha with the xmin search (KS
minimizing, WeightWatcher 0.7.7's rule), norm metrics. Apples to apples: ours computes every column WeightWatcher's
default `analyze()` reports (tests/test_spectra.py checks them against it), and adds the Marchenko-Pastur fit, spikes,
bulk KS and <r>. The rate is layers per second; WeightWatcher's rate is per model, measured on `--ww-models` of them
(its cost does not depend on how many). The two are timed alternately `--repeats` times and each keeps its best run
(other jobs on a shared machine only ever slow a run down); every run's time is in the JSON. Then both fit the layers WeightWatcher trusts (>= 50 eigenvalues) of a small MLP trained on MNIST and of
heavy-tailed (Student-t) random matrices, and the median |alpha_ours - alpha_WW| is reported. The last stdout line is the
JSON summary; the same JSON goes to bench/results/spectra_throughput_<device>.json.
"""
import argparse
import contextlib
import io
import json
import logging
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from neuralblitz_lab.core import git_commit
from torch import nn

from neuralblitz_lab.cnn import CNN_SPEC, N_PARAMS, flat_to_params
from neuralblitz_lab.spectra.rmt import WeightSpectra


class ZooCNN(nn.Module):
    "The zoo's CNN as a torch module, for WeightWatcher (which needs one)."
    def __init__(self):
        super().__init__()
        for l in CNN_SPEC.layers:
            setattr(self, l.name, nn.Conv2d(l.n_in, l.n_out, l.kernel) if l.kind == "conv" else nn.Linear(l.n_in, l.n_out))

    def load_flat(self, flat: torch.Tensor) -> "ZooCNN":
        with torch.no_grad():
            for k, v in flat_to_params(flat).items():
                a, b = k.split("."); getattr(getattr(self, a), b).copy_(v)
        return self


def zoo_weights(n: int, seed: int) -> tuple[torch.Tensor, str]:
    zoo_dir = Path("data/zoos/small")
    if (zoo_dir / "manifest.json").is_file():
        from neuralblitz_lab.zoo.store import Zoo
        w, src = Zoo(zoo_dir, verify=False).weights(), str(zoo_dir)
    else:  # no zoo: kaiming-scaled random CNNs (same shapes)
        w, src = torch.randn(2000, N_PARAMS, generator=torch.Generator().manual_seed(seed)) * 0.2, "random"
    reps = -(-n // len(w))
    return w.repeat(reps, 1)[:n].contiguous(), src


def ww_analyze(watcher, model) -> "pd.DataFrame":
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # WW prints "SMALL N PL FIT" per small layer
        warnings.simplefilter("ignore")
        return watcher.analyze(model=model)


def trained_mlp(seed: int, epochs: int) -> nn.Module:
    "A 784-300-100-10 ReLU MLP trained with Adam on the `small` profile's MNIST training split."
    from neuralblitz_lab.data import load_dataset
    torch.manual_seed(seed)
    ds = load_dataset("small", None, seed); idx = ds.split_indices("train")
    x, y = ds.images[idx].flatten(1), ds.labels[idx]
    m = nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for _ in range(epochs):
        for b in torch.randperm(len(x)).split(64):
            opt.zero_grad(); nn.functional.cross_entropy(m(x[b]), y[b]).backward(); opt.step()
    return m


def heavy_tailed_layers(seed: int) -> list[nn.Module]:
    "Linear layers with Student-t (3 degrees of freedom) entries: heavy-tailed ESDs, like trained layers."
    g = torch.Generator().manual_seed(seed); out = []
    for n_out, n_in in [(300, 100), (200, 200), (500, 150), (400, 120), (256, 64), (120, 360)]:
        lin = nn.Linear(n_in, n_out)
        z = torch.randn(n_out, n_in, generator=g); chi = torch.randn(n_out, n_in, 3, generator=g).square().sum(-1) / 3
        with torch.no_grad(): lin.weight.copy_(z / chi.sqrt() / n_in ** 0.5)  # Student-t(3) entries
        out.append(nn.Sequential(lin))
    return out


def alpha_agreement(models: list[nn.Module], watcher) -> tuple[float, int, float]:
    "Median and max |alpha_ours - alpha_WW| over the layers WeightWatcher fits with >= 50 eigenvalues, and their count."
    diffs = []
    for m in models:
        ww = ww_analyze(watcher, m)
        ours = WeightSpectra().fit(m).transform()
        for (_, a), (_, b) in zip(ww.iterrows(), ours.iterrows()):
            if a["num_evals"] >= 50 and a["alpha"] > 0: diffs.append(abs(float(a["alpha"]) - float(b["alpha"])))
    d = np.array(diffs)
    return float(np.median(d)), len(d), float(d.max())


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu"); p.add_argument("--models", type=int, default=None)
    p.add_argument("--ww-models", type=int, default=20); p.add_argument("--threads", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None); p.add_argument("--mlp-epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0); p.add_argument("--quick", action="store_true", help="1,000 models, 5 for WW")
    p.add_argument("--repeats", type=int, default=3, help="alternating timed runs of each; the best counts")
    a = p.parse_args(argv)
    cuda = a.device.startswith("cuda")
    if a.threads: torch.set_num_threads(a.threads)
    n = a.models or (1000 if a.quick else (200_000 if cuda else 10_000))
    if a.quick: a.ww_models = 5
    import weightwatcher as ww
    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    watcher = ww.WeightWatcher()
    flat, src = zoo_weights(max(n, a.ww_models), a.seed)

    # ours: the whole zoo at once (a warm-up batch first: allocator, kernels, LAPACK workspaces)
    bs = a.batch_size or (n if cuda else 4096)
    spec = WeightSpectra(device=a.device, batch_size=bs)
    spec.fit(flat[:min(256, n)]).transform()
    if cuda: torch.cuda.synchronize()
    x = flat[:n].to(a.device)

    def run_ours() -> tuple[float, int]:
        t0 = time.perf_counter(); df = spec.fit(x).transform()
        if cuda: torch.cuda.synchronize()
        return time.perf_counter() - t0, len(df)

    net = ZooCNN()
    def run_ww() -> tuple[float, int]:  # one model after another, as it is used
        t0 = time.perf_counter(); k = 0
        for i in range(a.ww_models): k += len(ww_analyze(watcher, net.load_flat(flat[i])))
        return time.perf_counter() - t0, k

    load_start = os.getloadavg(); ours_runs, ww_runs = [], []
    for _ in range(max(1, a.repeats)):  # alternate, so both see the same machine
        ours_runs.append(run_ours()); ww_runs.append(run_ww())
    ours_s, n_rows = min(ours_runs); ww_s, n_layers = min(ww_runs)
    ours_rate, ww_rate = n_rows / ours_s, n_layers / ww_s

    # agreement on the layers WeightWatcher trusts
    models = [trained_mlp(a.seed, 1 if a.quick else a.mlp_epochs)] + heavy_tailed_layers(a.seed)
    med, n_cmp, worst = alpha_agreement(models, watcher)

    res = dict(ours_layers_per_s=round(ours_rate, 1), weightwatcher_layers_per_s=round(ww_rate, 2),
               ratio=round(ours_rate / ww_rate, 1), alpha_median_abs_diff=med, alpha_layers_compared=n_cmp,
               alpha_max_abs_diff=worst, device=a.device, models=n, ww_models=a.ww_models, ours_seconds=round(ours_s, 3),
               ww_seconds=round(ww_s, 3), ours_runs_s=[round(t, 3) for t, _ in ours_runs], ww_runs_s=[round(t, 3) for t, _ in ww_runs],
               layers_per_model=n_rows // n, source=src, threads=torch.get_num_threads(),
               load_avg=os.getloadavg(), load_avg_start=load_start, torch=torch.__version__, weightwatcher=ww.__version__,
               gpu=torch.cuda.get_device_name() if cuda else None, cpu=platform.processor() or platform.machine(),
               commit=git_commit(), quick=a.quick)
    out = Path("bench/results") / f"spectra_throughput_{'cuda' if cuda else 'cpu'}{'_quick' if a.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True); out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
