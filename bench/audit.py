"""Claims audit: measure what no other experiment covers (DNDS properties and read time, GAK contraction, the Fisher's and
K-FAC's definiteness), then evaluate the claims registry (`neuralblitz_lab.validation.audit.CLAIMS`).

    python bench/audit.py [--device cpu] [--quick] [--zoo data/zoos/small] [--threads 1]

1. DNDS read time, flat (softmax over all B buckets) against two-level hierarchical (G = L = sqrt(B) groups, the nearest
   group probed), at B = 2^10, 2^14, 2^18 (k = m = 32, 64 queries, float32); median of `--repeats` timed calls after
   warm-up, each read alternated flat/hierarchical. Also the hierarchical read's relative error on queries near the
   stored buckets (the bank is clustered as a hierarchy expects).
2. DNDS identities (read after write, write(k, read(k)) = W, the f = 2 id naturality gap, the isometry case), GAK
   contraction ratios of `GAKAttention(32, 4)` with its weights scaled x1, x2, x4, a GAK feature Gram's smallest
   eigenvalue, the empirical Fisher of a zoo CNN in parameter space and the K-FAC factors of its fc1 on MNIST images.
3. With `--zoo` (a zoo with train/val/test triplets; `--mini-zoo` builds a relu-only one of the small profile's class sets
   in ~a minute): the DNDS retrieval memory against the merge benchmark's nearest
   lookup and plain averaging, union-class accuracy before fine-tuning; tau chosen on val triplets.
4. The registry: claims, verdicts, missing sources.

Measurements go to bench/results/audit_measurements.json (read by the registry), the retrieval to
bench/results/audit_dnds_retrieval.json, the summary (also the LAST stdout line) to bench/results/audit.json.
"""
import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from neuralblitz_lab.core import git_commit, save_json, utc_now
from neuralblitz_lab.memory.dnds import (dnds_read, dnds_write, hierarchical_read, random_hierarchy, random_isometry,
                                         soft_assign)
from neuralblitz_lab.validation.audit import audit_summary, audit_table
from neuralblitz_lab.validation.checks import CHECKS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _median_ms(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup): fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); ts.append(1e3 * (time.perf_counter() - t))
    return float(np.median(ts))


@torch.no_grad()
def dnds_timing(exponents=(10, 14, 18), dim: int = 32, n_queries: int = 64, repeats: int = 15, seed: int = 0) -> dict:
    "Median read ms (flat, hierarchical) per B and the hierarchical read's relative error."
    out = {}
    for e in exponents:
        G = L = 2 ** (e // 2)
        h = random_hierarchy(G, L, dim, dim, seed=seed)
        C, W = h["centroids"].flatten(0, 1), h["memory"].flatten(0, 1)  # the same bank, flat
        g = torch.Generator().manual_seed(seed + 1)
        q = C[torch.randint(len(C), (n_queries,), generator=g)] + 0.05 * torch.randn(n_queries, dim, generator=g)
        flat = lambda: dnds_read(q, C, W, 1.0)
        hier = lambda: hierarchical_read(q, h["group_centroids"], h["centroids"], h["memory"], 1.0, n_probe=1)
        tf, th = [], []
        for _ in range(3):  # alternate, keep every block's median: other jobs only ever slow a block down
            tf.append(_median_ms(flat, max(1, repeats // 3))); th.append(_median_ms(hier, max(1, repeats // 3)))
        rel = float((hier() - flat()).norm() / flat().norm())
        out[str(2 ** e)] = dict(flat=min(tf), hierarchical=min(th), groups=G, group_size=L, hier_rel_err=rel,
                                speedup=min(tf) / min(th))
    return out


def dnds_identities(seed: int = 0) -> dict:
    "Errors of the derived DNDS identities and the naturality gap (float64)."
    g = torch.Generator().manual_seed(seed)
    C, W = torch.randn(16, 4, generator=g, dtype=torch.float64), torch.randn(16, 3, generator=g, dtype=torch.float64)
    raw, ident = [], []
    for tau in (0.1, 1.0, 10.0):
        k, v = torch.randn(1, 4, generator=g, dtype=torch.float64), torch.randn(1, 3, generator=g, dtype=torch.float64)
        s2 = soft_assign(k, C, tau).square().sum()
        before = v - dnds_read(k, C, W, tau)
        after = v - dnds_read(k, C, dnds_write(k, v, C, W, tau, 0.7), tau)
        raw.append(float((after - (1 - 0.7 * s2) * before).abs().max() / before.abs().max()))
        ident.append(float((dnds_write(k, dnds_read(k, C, W, tau), C, W, tau) - W).abs().max()))
    C2, W2 = torch.tensor([[1., 0.], [-1., 0.]], dtype=torch.float64), torch.tensor([[1.], [0.]], dtype=torch.float64)
    e1 = torch.tensor([[1., 0.]], dtype=torch.float64)
    gap = float((dnds_read(2 * e1, C2, W2, 1.0) - dnds_read(e1, C2, W2, 1.0)).abs().max())
    Q, t = random_isometry(4, seed=seed)
    K = torch.randn(5, 4, generator=g, dtype=torch.float64)
    iso = float((dnds_read(K @ Q.T + t, C @ Q.T + t, W, 1.0) - dnds_read(K, C, W, 1.0)).abs().max())
    return dict(read_after_write_rel_err=max(raw), write_read_identity_err=max(ident), naturality_gap_scaling=gap,
                naturality_isometry_err=iso, taus=[0.1, 1.0, 10.0], eta=0.7)


@torch.no_grad()
def gak_contraction(scales=(1.0, 2.0, 4.0), seed: int = 0) -> dict:
    "Largest contraction ratio of GAKAttention(32, 4) on 8 perturbed (16, 32) inputs, per weight scale."
    from neuralblitz_lab.kernels.gak import GAKAttention, contraction_ratio
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 16, 32, generator=g); y = x + 0.1 * torch.randn(x.shape, generator=g)
    per = {}
    for s in scales:
        torch.manual_seed(seed)  # nn.Linear initializes from the global generator
        m = GAKAttention(32, 4, seed=seed, backend="torch")
        for p in m.parameters():
            if p.ndim == 2: p.mul_(s)
        per[str(s)] = float(contraction_ratio(m, x, y).max())
    return dict(per_scale=per, max_ratio=max(per.values()), pairs=8, perturbation=0.1)


def curvature_definiteness(n_images: int = 256, n_fisher: int = 24, seed: int = 0) -> dict:
    "Smallest eigenvalues: GAK feature Gram, empirical Fisher (parameter space), fc1's K-FAC factors A and S."
    from torch.func import grad, vmap
    from neuralblitz_lab.cnn import CNN_SPEC, cnn_forward, init_params
    from neuralblitz_lab.data import load_dataset
    from neuralblitz_lab.kernels.gak import draw_omega, gak_features
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(40, 6, generator=g, dtype=torch.float64); metric = torch.rand(6, generator=g, dtype=torch.float64) + 0.1
    psi, c = gak_features(theta, draw_omega(metric, 64, g), metric); phi = psi * torch.exp(c)[:, None]
    data = load_dataset("small", seed=seed)
    idx = torch.randperm(len(data.labels), generator=g)[:n_images]
    x, y = data.images[idx], data.labels[idx]
    p = init_params("kaiming_uniform", seed=seed)
    loss = lambda pp, xi, yi: torch.nn.functional.cross_entropy(cnn_forward(pp, xi[None], "relu"), yi[None])
    per = vmap(grad(loss), in_dims=(None, 0, 0))(p, x, y)
    G = torch.cat([v.flatten(1) for v in per.values()], 1).double()[:n_fisher]  # (n, 2464)
    F = G.T @ G / len(G)
    h = x
    for l in CNN_SPEC.layers[:3]:
        h = torch.nn.functional.conv2d(h, p[f"{l.name}.weight"], p[f"{l.name}.bias"])
        if l.pool: h = torch.nn.functional.max_pool2d(h, l.pool)
        h = torch.relu(h)
    a = h.flatten(1).double(); gz = per["fc1.bias"].double()  # (n, 36) fc1 inputs, (n, 20) dL/dz
    A, S = a.T @ a / len(a), gz.T @ gz / len(gz)
    return dict(gak_gram_min_eig=float(torch.linalg.eigvalsh(phi @ phi.T)[0]),
                fisher_param_space_min_eig=float(torch.linalg.eigvalsh(F)[0]), fisher_examples=len(G), fisher_params=F.shape[0],
                fisher_rank=int(torch.linalg.matrix_rank(G)),
                kfac_A_min_eig=float(torch.linalg.eigvalsh(A)[0]), kfac_S_min_eig=float(torch.linalg.eigvalsh(S)[0]),
                kfac_images=n_images, dead_fc1_inputs=int((a.abs().sum(0) == 0).sum()))


@torch.no_grad()
def merge_symmetry(n_perms: int = 5, n_images: int = 16, seed: int = 0) -> dict:
    "Joint equivariance error and one-sided invariance gaps (over `n_perms` permutations) of the classical merges."
    from neuralblitz_lab.cnn import init_params, params_to_flat
    from neuralblitz_lab.merge import classical as mc
    from neuralblitz_lab.validation.checks import merge_equivariance_error, merge_invariance_gap
    w1, w2 = (params_to_flat(init_params("kaiming_uniform", seed=s)).double() for s in (seed + 1, seed + 2))
    x = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = torch.zeros_like(w1)[None]
    methods = {"average": mc.average_merge, "task_arithmetic": lambda a, b: mc.task_arithmetic_merge(a, b, z, 1.0),
               "ties": lambda a, b: mc.ties_merge(a, b, z, 0.5, 1.0), "dare": lambda a, b: mc.dare_merge(a, b, z, 0.5, 1.0),
               "weight_matching": mc.weight_matching_merge,
               "zipit": lambda a, b: torch.stack([mc.zipit_merge_one(a[0], b[0], x[:n_images], "relu")])}
    out = {}
    for name, fn in methods.items():
        eq = merge_equivariance_error(fn, w1, w2, seed=seed)
        gaps = [merge_invariance_gap(fn, w1, w2, "relu", x, seed=s) for s in range(n_perms)]
        out[name] = dict(joint_equivariance_rel_err=eq, one_sided_gap_max=max(gaps), one_sided_gap_median=float(np.median(gaps)))
    return dict(methods=out, n_perms=n_perms, zipit_images=n_images, note="relu CNNs at two kaiming-uniform inits; gaps are relative logit differences")


def build_mini_zoo(path: Path, seed: int = 0, max_epochs: int = 8) -> Path:
    "A relu-only zoo of the small profile's class sets (45 pairs + 105 quads), `max_epochs` epochs, in this process."
    from dataclasses import replace
    from neuralblitz_lab.core import get_profile
    from neuralblitz_lab.zoo.train import build_zoo
    if not (path / "manifest.json").is_file():
        prof = replace(get_profile("small"), zoo_activations=("relu",), max_epochs=max_epochs, epoch_bins=(max_epochs // 2, max_epochs))
        build_zoo(path, prof, seed=seed, device="cpu", workers=1, progress=False)
    return path


def dnds_retrieval(zoo_dir: Path, taus=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3), n_probe_images: int = 64, seed: int = 0) -> dict:
    "Union-class accuracy (k = 0) of the DNDS retrieval memory, the nearest lookup and averaging; tau chosen on val."
    from neuralblitz_lab.data import load_dataset
    from neuralblitz_lab.memory.dnds import dnds_retrieval_method
    from neuralblitz_lab.merge import benchmark as mb
    from neuralblitz_lab.merge.classical import average_merge
    from neuralblitz_lab.zoo.store import Zoo
    zoo = Zoo(zoo_dir); prof = json.loads((zoo_dir / "manifest.json").read_text())["config"]["profile"]
    data = load_dataset(prof, seed=seed)
    w = zoo.filter(final_only=True).weights()
    probe = data.images[mb.eval_indices(data, "train", per_class=max(1, n_probe_images // 10), seed=seed)]
    test_idx = mb.eval_indices(data, "test", None); x_te, y_te = data.images[test_idx], data.labels[test_idx]
    def score(split, fn):
        tri = mb.zoo_triplets(zoo, split); batch = mb.make_batch(zoo, tri, data, w)
        merged = fn(batch)
        return float(mb.class_accuracy(mb.model_logits(merged, batch.activation, x_te), y_te, batch.union).nanmean()), len(tri)
    lookup = mb.nearest_train_union_method(zoo, w)
    val = {str(t): score("val", dnds_retrieval_method(zoo, probe, t, w))[0] for t in taus}
    best = max(val, key=val.get)
    dn, n_test = score("test", dnds_retrieval_method(zoo, probe, float(best), w))
    lk, _ = score("test", lookup); av, _ = score("test", lambda b: average_merge(b.w1, b.w2))
    union = score("test", lambda b: w[torch.as_tensor(mb.zoo_triplets(zoo, "test")["row_union"].tolist())])[0]
    return dict(zoo=str(zoo_dir), n_test_triplets=n_test, val_iid_by_tau=val, tau=float(best), dnds_iid=dn, lookup_iid=lk,
                average_iid=av, union_iid=union, dnds_minus_lookup_iid=dn - lk, probe_images=len(probe))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu"], help="every measurement here is a CPU one")
    ap.add_argument("--quick", action="store_true", help="fewer timing repeats (same B values)")
    ap.add_argument("--repeats", type=int, default=30, help="timed reads per B and kind (split into 3 alternated blocks)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--zoo", type=Path, default=None, help="a zoo with train/val/test triplets for the retrieval measurement")
    ap.add_argument("--mini-zoo", action="store_true", help="build (once) and use data/zoos/audit_mini: relu, small's class sets, 8 epochs")
    ap.add_argument("--no-save", action="store_true", help="print only, write nothing under bench/results")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    meta = dict(device="cpu", cpu=platform.processor() or platform.machine(), threads=args.threads, torch=torch.__version__,
                python=platform.python_version(), commit=git_commit(ROOT), command="python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])]),
                time_utc=utc_now(), load_average_1_5_15=list(os.getloadavg()))
    timing = dnds_timing(repeats=6 if args.quick else args.repeats)
    meas = dict(dnds_read_ms=timing, dnds=dnds_identities(), gak_contraction=gak_contraction(), **curvature_definiteness(),
                merge_symmetry=merge_symmetry(),
                validation_checks=sorted(CHECKS), **meta)
    if args.mini_zoo and args.zoo is None: args.zoo = build_mini_zoo(ROOT / "data" / "zoos" / "audit_mini")
    if args.zoo is not None:
        ret = {**dnds_retrieval(args.zoo), **meta}
        if not args.no_save: save_json(ret, RESULTS / "audit_dnds_retrieval.json")
    meas["seconds"] = round(time.time() - t0, 1)
    if not args.no_save: save_json(meas, RESULTS / "audit_measurements.json")
    table = audit_table(ROOT)
    s = audit_summary(table)
    summary = dict(claims=s["claims"], verdicts=s["verdicts"], missing_sources=s["missing_sources"], missing_ids=s["missing_ids"],
                   validation_checks=len(CHECKS),
                   dnds_read_ms={b: dict(flat=round(v["flat"], 3), hierarchical=round(v["hierarchical"], 3)) for b, v in timing.items()},
                   seconds=round(time.time() - t0, 1), **meta)
    if not args.no_save: save_json(summary, RESULTS / "audit.json")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
