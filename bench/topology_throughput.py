"""Throughput of the persistent-homology lab (issue 7) on the CPU.

1. PH features of 10,000 zoo models (`topology_zoo.weights_topology`): H0/H1 of each layer's neuron cloud, neural persistence,
   H0/H1 of the fc1 activations on a 256-image probe set. The small zoo has 510 final models, so the 10,000 models are
   those final weights replicated and perturbed (each copy + Gaussian noise of 1% of each layer's std): every copy is a
   distinct model with the zoo's statistics; the work per model is what matters.
2. H0/H1 of a 20,000-point noisy torus in 3-D: H0 exact (Euclidean MST from the Delaunay graph), H1 from 1,000 max-min
   landmarks (giotto-ph). Its error is measured where the exact diagram is computable: on a 2,000-point subsample, the same
   method (same landmark count) against exact giotto-ph Rips, in bottleneck distance (max over H0 and H1).

Usage: .venv/bin/python bench/topology_throughput.py [--quick] [--n-jobs 2]
The last stdout line is the JSON summary; it is also saved to bench/results/topology_throughput.json.
"""
import argparse, json, os, platform, subprocess, sys, time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from neuralblitz_lab.cnn import layer_slices  # noqa: E402
from neuralblitz_lab.data import load_dataset  # noqa: E402
from neuralblitz_lab.topology.persistence import bottleneck, diagrams, emst_h0, landmark_diagrams, sample_shape  # noqa: E402
from neuralblitz_lab.topology.zoo import probe_images, weights_topology  # noqa: E402
from neuralblitz_lab.zoo.store import Zoo  # noqa: E402


def replicate(weights: torch.Tensor, n: int, seed: int = 0, rel_noise: float = 0.01) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = weights[torch.arange(n) % len(weights)].clone()
    for sl in layer_slices().values():
        std = weights[:, sl].std()
        w[len(weights):, sl] += rel_noise * std * torch.randn(n - len(weights), sl.stop - sl.start, generator=g)
    return w


def cloud_method(X, n_landmarks, n_threads):
    lm, bound = landmark_diagrams(X, n_landmarks, maxdim=1, n_threads=n_threads)
    return [emst_h0(X), lm[1]], bound


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1,000 models, 5,000 points, 600-point subsample")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--zoo", default=str(ROOT / "data/zoos/small"))
    ap.add_argument("--out", default=str(ROOT / "bench/results/topology_throughput.json"))
    a = ap.parse_args()
    n_models, n_points, n_sub, n_landmarks = (1000, 5000, 600, 300) if a.quick else (10_000, 20_000, 2_000, 1_000)
    torch.set_num_threads(1)
    zoo = Zoo(a.zoo, verify=False).filter(final_only=True)
    w = replicate(zoo.weights(), n_models)
    acts = [zoo.index["activation"].iloc[i % len(zoo.index)] for i in range(n_models)]
    images, _ = probe_images(load_dataset("small"), 256)
    t = time.perf_counter()
    feats = weights_topology(w, acts, images, n_jobs=a.n_jobs, chunk_size=100, progress=False)
    zoo_s = time.perf_counter() - t
    assert len(feats) == n_models and np.isfinite(feats.to_numpy()).all()

    X = sample_shape("torus", n_points, noise=0.05, seed=0)
    t = time.perf_counter(); dg, bound = cloud_method(X, n_landmarks, a.n_jobs); cloud_s = time.perf_counter() - t
    sub = X[np.random.default_rng(1).choice(n_points, n_sub, replace=False)]
    t = time.perf_counter(); exact = diagrams(sub, maxdim=1, n_threads=a.n_jobs); exact_s = time.perf_counter() - t
    approx, sub_bound = cloud_method(sub, n_landmarks, a.n_jobs)
    errs = [bottleneck(approx[k], exact[k]) for k in range(2)]
    top_h1 = sorted((dg[1][:, 1] - dg[1][:, 0]).tolist())[-3:]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    import gph, gudhi
    res = dict(zoo_models=n_models, zoo_seconds=round(zoo_s, 2), zoo_models_per_second=round(n_models / zoo_s, 1),
               zoo_source=f"{len(zoo.index)} final models of {a.zoo} replicated and perturbed (1% of layer std)",
               cloud_points=n_points, cloud_seconds=round(cloud_s, 2), cloud_method=f"H0 exact (Delaunay EMST), H1 Rips of {n_landmarks} max-min landmarks",
               cloud_stability_bound=round(bound, 4), cloud_top3_h1_persistence=[round(x, 4) for x in top_h1],
               cloud_bottleneck_error=round(max(errs), 5), cloud_bottleneck_error_h0=round(errs[0], 6), cloud_bottleneck_error_h1=round(errs[1], 5),
               subsample_points=n_sub, subsample_exact_seconds=round(exact_s, 2), subsample_stability_bound=round(sub_bound, 4),
               n_jobs=a.n_jobs, load_average=os.getloadavg(), cpu_count=os.cpu_count(), device="cpu", platform=platform.platform(),
               versions=dict(torch=torch.__version__, numpy=np.__version__, gudhi=gudhi.__version__, giotto_ph=getattr(gph, "__version__", "?")),
               commit=commit, quick=a.quick)
    if not a.quick:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
