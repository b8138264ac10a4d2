"""Structure of weights and of the zoo (issue 26): Hodge Betti numbers against gudhi, Poincaré vs Euclidean embeddings
of the class-subset lattice, at-init dynamical isometry against the full zoo's final accuracies, Tucker vs SVD vs
pruning of trained CNNs.

    python bench/structure.py [--device cpu] [--quick] [--epochs-lattice E] [--seed S]

- hodge: `topology.hodge.known_complexes` (27 complexes), Betti numbers from the Hodge Laplacians against gudhi's.
- lattice: `zoo.lattice.embed_lattice` of the 1,013 experiences in dimensions 2..10, Poincaré ball (geoopt
  RiemannianAdam) and Euclidean, same loss, optimizer settings and epochs; mean rank and MAP.
- isometry: `spectra.isometry.cell_isometry` of the 6 activations x 9 inits at the zoo's init (seed 0) on 64 test
  images; Spearman of each statistic with the full zoo's per-cell median final test accuracy and share learned
  (`bench/results/full_zoo_build_h100.json`, 36 cells: the spectral inits have no full-zoo cells), AUC of learned
  (share >= 0.5) vs not.
- tucker: a few CNNs trained here on all ten digits (`spectra.isometry.train_cells`), every weight layer compressed to
  a fraction of its size by Tucker, truncated SVD and magnitude pruning, and the zoo tensor of those models by Tucker
  and SVD; mean test accuracy vs compression ratio and the ratio at a 1-point drop.

CPU only (no GPU needed). The last stdout line is the JSON summary; the full result goes to
bench/results/structure[_quick].json.
"""
import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
FULL_ZOO = ROOT / "bench/results/full_zoo_build_h100.json"
FRACTIONS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.35, 0.25, 0.12, 0.05)
SCOPES = {"all": None, "conv2": ("conv2",)}  # every weight layer, or the one 4-way kernel with real size (6 x 8 x 5 x 5)


def hodge_part() -> dict:
    from neuralblitz_lab.topology.hodge import gudhi_betti, hodge_betti, known_complexes
    rows = []
    for name, (s, known) in known_complexes().items():
        h, g = hodge_betti(s), gudhi_betti(s)
        rows.append(dict(complex=name, n_simplices=[len(x) for x in s], hodge=h, gudhi=g, closed_form=known,
                         match=h == g and (known is None or h == known)))
    return dict(hodge_complexes=len(rows), hodge_mismatches=sum(not r["match"] for r in rows), complexes=rows)


def lattice_part(epochs: int, seed: int) -> dict:
    from neuralblitz_lab.zoo.lattice import embed_lattice, inclusion_matrix, reconstruction
    from neuralblitz_lab.zoo.store import all_experiences
    R = inclusion_matrix(all_experiences()); dims = tuple(range(2, 11)); out = {}
    for m in ("poincare", "euclidean"):
        t0 = time.perf_counter(); emb = embed_lattice(R, dims, m, epochs=epochs, seed=seed)
        sc = reconstruction(emb, R, m).assign(dim=dims)
        out[m] = dict(seconds=round(time.perf_counter() - t0, 1), map={d: round(v, 4) for d, v in zip(dims, sc["map"])},
                      mean_rank={d: round(v, 2) for d, v in zip(dims, sc["mean_rank"])})
    return out


def isometry_part(images: torch.Tensor) -> dict:
    from neuralblitz_lab.cnn import ACTIVATIONS, INITS
    from neuralblitz_lab.spectra.isometry import cell_auc, cell_isometry, cell_spearman
    full = pd.DataFrame(json.loads(FULL_ZOO.read_text())["by_slice"])
    full["learned"] = full.share_learned >= 0.5
    stats = cell_isometry(ACTIVATIONS, list(INITS), images, seeds=(0,))
    sp = {c: cell_spearman(stats, full, c).set_index("stat") for c in ("median_test_acc", "share_learned")}
    auc = cell_auc(stats, full).set_index("stat")
    within = {a: round(float(cell_spearman(stats[stats.activation == a], full[full.activation == a], "share_learned")
                             .set_index("stat").rho["log10_chi"]), 3) for a in ("sigmoid", "tanh")}
    cells = stats.merge(full[["activation", "init", "median_test_acc", "share_learned"]], on=["activation", "init"], how="left")
    return dict(spearman_median_acc={k: round(float(v), 3) for k, v in sp["median_test_acc"].rho.items()},
                p_value_median_acc={k: float(v) for k, v in sp["median_test_acc"].p_value.items()},
                spearman_share_learned={k: round(float(v), 3) for k, v in sp["share_learned"].rho.items()},
                auc_learned={k: round(float(v), 3) for k, v in auc.auc.items()}, within_activation_log10_chi_vs_share=within,
                n_cells=int(sp["median_test_acc"].n_cells.iloc[0]), cells=json.loads(cells.round(5).to_json(orient="records")))


def tucker_part(dataset, activations, inits, epochs: int, seed: int) -> dict:
    from neuralblitz_lab.spectra.isometry import train_cells
    from neuralblitz_lab.spectra.tucker import compress_models, compress_zoo, model_accuracy, ratio_at_drop
    w, rows = train_cells(activations, inits, [tuple(range(10))], dataset, epochs=epochs, epoch_bins=(epochs,), seed=seed)
    fin = rows.is_final.to_numpy(dtype=bool); w, rows = w[torch.from_numpy(fin.copy())], rows[fin].reset_index(drop=True)
    acts, cls = rows.activation.tolist(), rows.classes.tolist()
    base = model_accuracy(w, acts, cls, dataset)
    curves = []
    for scope, layers in SCOPES.items():
        for level, fn, methods in (("model", compress_models, ("tucker", "svd", "prune")), ("zoo", compress_zoo, ("tucker", "svd"))):
            for m in methods:
                for f in FRACTIONS:
                    cw, info = fn(w, m, f, layers)
                    acc = model_accuracy(cw, acts, cls, dataset)
                    curves += [dict(scope=scope, level=level, method=m, fraction=f, ratio=info["ratio"], stored_bytes=info["stored_bytes"],
                                    original_bytes=info["original"] * 4, activation=a, init=i, acc=float(x), base=float(b))
                               for a, i, x, b in zip(acts, rows.init, acc, base)]
    df = pd.DataFrame(curves)
    keys = ["scope", "level", "method"]
    mean = df.groupby(keys + ["fraction"], as_index=False).agg(ratio=("ratio", "first"), acc=("acc", "mean"), base=("base", "mean"),
                                                              stored_bytes=("stored_bytes", "first"), original_bytes=("original_bytes", "first"))
    name = lambda scope, level, method: f"{level}_{method}" if scope == "all" else f"{scope}_{level}_{method}"  # model_tucker, conv2_zoo_svd, ...
    at1 = {name(*k): round(ratio_at_drop(g.ratio, g.acc, g.base.iloc[0]), 3) for k, g in mean.groupby(keys)}
    per_cell = {f"{a}|{i}|{name(*k)}": round(ratio_at_drop(g.ratio, g.acc, g.base.iloc[0]), 3)
                for (a, i, *k), g in df.groupby(["activation", "init"] + keys)}
    return dict(ratio_at_1pt=at1, ratio_at_1pt_per_cell=per_cell, base_acc_mean=round(float(base.mean()), 4), n_models=len(w),
                curve=json.loads(mean.round(5).to_json(orient="records")), per_model=json.loads(df.round(5).to_json(orient="records")))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", help="cpu only: nothing here needs a GPU")
    p.add_argument("--quick", action="store_true", help="5 lattice epochs, 6 CNNs for Tucker (about 2 minutes on 2 cores)")
    p.add_argument("--epochs-lattice", type=int, default=None); p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    if a.device != "cpu": raise SystemExit(f"--device {a.device}: this benchmark runs on the CPU only")
    torch.set_num_threads(a.threads)
    from neuralblitz_lab.core import git_commit
    from neuralblitz_lab.data import load_dataset
    t0 = time.perf_counter(); load0 = os.getloadavg()
    ds = load_dataset("small", None, a.seed)
    probe = ds.images[ds.split_indices("test")[:64]]
    out = dict(device="cpu", threads=a.threads, quick=a.quick, commit=git_commit(ROOT), command="python bench/structure.py " + " ".join(argv or sys.argv[1:]),
               torch=torch.__version__)
    t = time.perf_counter(); out["hodge"] = hodge_part(); out["hodge"]["seconds"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter(); out["isometry"] = isometry_part(probe); out["isometry"]["seconds"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    acts, inits = (("relu", "gelu", "tanh"), ("kaiming_uniform", "orthogonal")) if a.quick else \
        (("relu", "gelu", "silu", "leakyrelu", "sigmoid", "tanh"), ("kaiming_uniform", "xavier_normal", "orthogonal", "mp_matched"))
    out["tucker"] = tucker_part(ds, acts, inits, 6 if a.quick else 12, a.seed); out["tucker"]["seconds"] = round(time.perf_counter() - t, 1)
    out["lattice"] = lattice_part(a.epochs_lattice or (5 if a.quick else 30), a.seed)
    out |= dict(seconds=round(time.perf_counter() - t0, 1), load_avg_start=load0, load_avg_end=os.getloadavg())
    name = "structure_quick.json" if a.quick else "structure.json"
    (ROOT / "bench/results" / name).write_text(json.dumps(out, indent=1) + "\n")
    summary = dict(hodge_complexes=out["hodge"]["hodge_complexes"], hodge_mismatches=out["hodge"]["hodge_mismatches"],
                   poincare_map=out["lattice"]["poincare"]["map"], euclid_map=out["lattice"]["euclidean"]["map"],
                   poincare_mean_rank=out["lattice"]["poincare"]["mean_rank"], euclid_mean_rank=out["lattice"]["euclidean"]["mean_rank"],
                   isometry_spearman=out["isometry"]["spearman_median_acc"]["log10_chi"],
                   isometry_auc_learned=out["isometry"]["auc_learned"]["log10_chi"],
                   tucker_ratio_at_1pt=out["tucker"]["ratio_at_1pt"], seconds=out["seconds"], results=f"bench/results/{name}")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
