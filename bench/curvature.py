"""Curvature and statistics of weights (issue 25): the reference checks and, on CUDA, zoo-scale timings.

    python bench/curvature.py [--device cpu|cuda] [--quick] [--models N] [--epochs E] [--out PATH]

Always (CPU-sized, the issue's targets):
- kfac_rel_err: largest relative Frobenius error of our K-FAC factors A, G (every layer of the zoo CNN; empirical and
  exact/"type-2" Fisher; float64) against curvlinops-for-pytorch's KFACLinearOperator (KFAC-expand, joint weight+bias);
- lanczos_rel_err: largest relative error of the top-5 Lanczos eigenvalues of a small CNN's loss Hessian (754 parameters,
  float64) against `torch.linalg.eigvalsh` of the dense Hessian (`torch.autograd.functional.hessian`);
- mmd_null_fpr / mmd_power: rejection rates at alpha = 0.05 of the permutation test over 200 null draws and 100 draws of a
  mean shift (Gaussians, 10 dimensions, 50 points per sample, 200 permutations);
- pacbayes_bounds_valid: every Maurer bound >= the test error of its posterior (and of the trained model), for zoo CNNs
  trained for a few epochs on the small profile's data, prior at their shared init.
On CUDA also: hessian_batched_vs_loop, the top Hessian eigenvalue (Lanczos, `--lanczos-iter` products) of `--models` zoo
CNNs in one batched call against a per-model loop of the same call (timed on `--loop-models` of them, extrapolated per
model), and a `--models`-model K-FAC group trained by the zoo trainer against Adam, accuracy per epoch and wall time.
The last stdout line is the JSON summary; a copy goes to bench/results/curvature-<device>.json (or --out).
"""
import argparse
import itertools
import json
import math
import platform
import sys
import time
from pathlib import Path

import torch

from neuralblitz_lab.core import git_commit
from neuralblitz_lab.cnn import CNN_SPEC, CNNSpec, LayerSpec, flat_to_params, init_params, init_zoo_params, n_params, params_to_flat
from neuralblitz_lab.curvature.hessian import _loss_one, hvp_operator, top_eigenvalues, zoo_hessian_stats
from neuralblitz_lab.curvature.kfac import kfac_factors
from neuralblitz_lab.curvature.mmd import mmd_permutation_test
from neuralblitz_lab.curvature.pac_bayes import pac_bayes_bounds
from neuralblitz_lab.data import load_dataset, stack_experiences
from neuralblitz_lab.zoo.train import ModelGroup, TrainConfig, train_group


def module_of(flat: torch.Tensor, activation: str = "relu", spec: CNNSpec = CNN_SPEC):
    "An nn.Sequential computing cnn_forward(flat_to_params(flat)) (float64), and {layer: module name} (for curvlinops)."
    from torch import nn
    act = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "silu": nn.SiLU}[activation]
    p, mods, names = flat_to_params(flat.double(), spec), [], {}
    for l in spec.layers:
        if l.kind == "conv": m = nn.Conv2d(l.n_in, l.n_out, l.kernel)
        else:
            if not any(isinstance(x, nn.Flatten) for x in mods): mods.append(nn.Flatten())
            m = nn.Linear(l.n_in, l.n_out)
        mods.append(m); names[l.name] = str(len(mods) - 1)
        with torch.no_grad(): m.weight.copy_(p[f"{l.name}.weight"]); m.bias.copy_(p[f"{l.name}.bias"])
        if l.kind == "conv" and l.pool: mods.append(nn.MaxPool2d(l.pool))
        if l.act: mods.append(act())
    return nn.Sequential(*mods).double(), names


def kfac_vs_curvlinops(seed: int = 0, batch: int = 32) -> dict:
    "Largest relative error of our factors against curvlinops' (both Fisher types, every layer), float64."
    try:
        from curvlinops import KFACLinearOperator
    except ImportError as e:
        return {"kfac_rel_err": None, "kfac_reference": f"curvlinops not importable: {e}"}
    from importlib.metadata import version
    from torch import nn
    g = torch.Generator().manual_seed(seed)
    flat = (params_to_flat(init_zoo_params("kaiming_uniform", 1, seed)) + 0.05 * torch.randn(1, 2464, generator=g)).double()
    x = torch.randn(batch, 1, 28, 28, generator=g, dtype=torch.float64); y = torch.randint(0, 10, (batch,), generator=g)
    errs = {}
    for act in ("relu", "tanh"):
        model, names = module_of(flat[0], act)
        for ours_m, theirs_m in (("empirical", "empirical"), ("exact", "type-2")):
            K = KFACLinearOperator(model, nn.CrossEntropyLoss(), list(model.parameters()), [(x, y)], fisher_type=theirs_m,
                                   separate_weight_and_bias=False, check_deterministic=False)
            K.compute_kronecker_factors()
            ours = kfac_factors(flat, x, y, act, ours_m)
            for l, mn in names.items():
                for which, mine, ref in (("A", ours[l][0][0], K._input_covariances[mn]), ("G", ours[l][1][0], K._gradient_covariances[mn])):
                    errs[f"{act}/{ours_m}/{l}/{which}"] = float((mine - ref).norm() / ref.norm())
    worst = max(errs, key=errs.get)
    return {"kfac_rel_err": errs[worst], "kfac_worst": worst, "kfac_reference": f"curvlinops-for-pytorch {version('curvlinops-for-pytorch')}"}


SMALL_SPEC = CNNSpec(layers=(LayerSpec("conv1", "conv", 1, 4, kernel=5, pool=2), LayerSpec("fc1", "linear", 64, 10, act=False)),
                     image_size=12)  # 754 parameters: small enough for a dense Hessian


def lanczos_vs_dense(seed: int = 0, n_iter: int = 100) -> dict:
    g = torch.Generator().manual_seed(seed); P = n_params(SMALL_SPEC)
    flat = torch.randn(2, P, generator=g, dtype=torch.float64) * 0.4
    x = torch.randn(2, 64, 1, 12, 12, generator=g, dtype=torch.float64); y = torch.randint(0, 10, (2, 64), generator=g)
    H = torch.stack([torch.autograd.functional.hessian(lambda f: _loss_one(f, x[m], y[m], "tanh", SMALL_SPEC), flat[m], vectorize=True)
                     for m in range(2)])
    dense = torch.linalg.eigvalsh(H).flip(-1)[:, :5]
    top = top_eigenvalues(hvp_operator(flat, x, y, "tanh", SMALL_SPEC), 2, P, 5, n_iter, g, torch.float64)
    return {"lanczos_rel_err": float(((top - dense).abs() / dense.abs()).max()), "lanczos_params": P, "lanczos_iter": n_iter,
            "dense_top5": dense[0].tolist()}


def mmd_rates(seed: int = 0, n_null: int = 200, n_alt: int = 100, n: int = 50, d: int = 10, shift: float = 1.0) -> dict:
    g = torch.Generator().manual_seed(seed)
    def p(delta): return mmd_permutation_test(torch.randn(n, d, generator=g), torch.randn(n, d, generator=g) + delta, 200, generator=g)["p_value"]
    s = torch.zeros(d); s[0] = shift
    null = torch.tensor([p(0.0) for _ in range(n_null)]); alt = torch.tensor([p(s) for _ in range(n_alt)])
    return {"mmd_null_fpr": float((null <= 0.05).float().mean()), "mmd_power": float((alt <= 0.05).float().mean()),
            "mmd_setup": f"{n} vs {n} Gaussians in {d}-d, shift {shift} in one coordinate, 200 permutations, {n_null} null / {n_alt} shifted draws"}


def _split_tensors(ds, exps, split, device):
    idx, lens = stack_experiences(ds, exps, split)
    mask = torch.arange(idx.shape[1])[None] < lens[:, None]
    return ds.images[idx].float().to(device), ds.labels[idx].to(device), mask.to(device)


def pac_bayes_check(epochs: int, n_models: int, seed: int = 0) -> dict:
    ds = load_dataset("small", seed=seed)
    exps = list(itertools.combinations(range(10), 2))[:n_models]
    g = ModelGroup("relu", "kaiming_uniform", seed, tuple(range(len(exps))), tuple(exps), tuple(range(len(exps))))
    w, rows = train_group(g, ds, TrainConfig(max_epochs=epochs, epoch_bins=(epochs,)), "cpu")
    flat = w[torch.from_numpy(rows.is_final.to_numpy(dtype=bool))]
    theta0 = params_to_flat(init_params("kaiming_uniform", seed))
    df = pac_bayes_bounds(flat, theta0, _split_tensors(ds, exps, "train", "cpu"), _split_tensors(ds, exps, "test", "cpu"), "relu",
                          sigmas=(0.01, 0.03, 0.1, 0.2, 0.3), draws=2, seed=seed)
    return {"pacbayes_bounds_valid": bool((df.maurer >= df.test_err_q).all() and (df.maurer >= df.test_err).all()),
            "pacbayes_maurer": df.maurer.round(4).tolist(), "pacbayes_mcallester": df.mcallester.round(4).tolist(),
            "pacbayes_test_err_q": df.test_err_q.round(4).tolist(), "pacbayes_test_err": df.test_err.round(4).tolist(),
            "pacbayes_sigma": df.sigma.tolist(), "pacbayes_kl": df.kl.round(1).tolist(), "pacbayes_n": df.n.tolist()}


def _sync(device):
    if device.startswith("cuda"): torch.cuda.synchronize()


def hessian_batched_vs_loop(flat, x, y, n_iter, loop_models, device) -> dict:
    """Top eigenvalue of every model in one batched Lanczos call vs the same call model by model (on loop_models of them).
    The images are one shared batch (a timing: a model trained on two classes sees all ten here, not a sharpness study)."""
    stats = lambda f: zoo_hessian_stats(f, x, y, "relu", k=1, n_iter=n_iter, n_probes=0)
    stats(flat[:2]); _sync(device)  # warm-up
    t = time.perf_counter(); top = stats(flat)["top"]; _sync(device); batched = time.perf_counter() - t
    t = time.perf_counter()
    loop_top = torch.cat([stats(flat[m:m + 1])["top"] for m in range(loop_models)]); _sync(device)
    per_model = (time.perf_counter() - t) / loop_models
    return {"hessian_batched_vs_loop": round(per_model * len(flat) / batched, 2), "hessian_models": len(flat),
            "hessian_batched_s": round(batched, 3), "hessian_loop_s_per_model": round(per_model, 4), "hessian_loop_models": loop_models,
            "hessian_lanczos_iter": n_iter, "hessian_images": int(x.shape[-4]),
            "hessian_top_median": float(top.median()), "hessian_top_loop_vs_batched_max_rel": float(((loop_top - top[:loop_models]).abs() / top[:loop_models].abs()).max())}


def zoo_group(n_models: int, seed: int = 0) -> ModelGroup:
    "`n_models` relu models, kaiming-uniform init, class pairs and quads cycling (the small zoo's experiences)."
    pool = list(itertools.combinations(range(10), 2)) + list(itertools.combinations(range(10), 4))
    exps = [pool[i % len(pool)] for i in range(n_models)]
    return ModelGroup("relu", "kaiming_uniform", seed, tuple(range(n_models)), tuple(exps), tuple(range(n_models)))


def train_with(opt: str, group: ModelGroup, ds, epochs: int, device: str) -> tuple[dict, torch.Tensor]:
    "Train the group with `opt` through the zoo trainer (no early stopping, a checkpoint every epoch): accuracy per epoch, time."
    cfg = TrainConfig(max_epochs=epochs, epoch_bins=tuple(range(1, epochs + 1)), patience=10 ** 6, optimizer=opt)
    _sync(device); t = time.perf_counter()
    w, rows = train_group(group, ds, cfg, device)
    _sync(device)
    out = {f"{opt}_seconds": round(time.perf_counter() - t, 2),
           f"{opt}_test_acc_per_epoch": rows.groupby("bin").test_acc.mean().round(4).tolist(),
           f"{opt}_train_acc_per_epoch": rows.groupby("bin").train_acc.mean().round(4).tolist()}
    return out, w[torch.from_numpy(rows.is_final.to_numpy(dtype=bool))]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu"); ap.add_argument("--quick", action="store_true")
    ap.add_argument("--models", type=int, default=1024); ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--loop-models", type=int, default=16); ap.add_argument("--lanczos-iter", type=int, default=20)
    ap.add_argument("--hessian-images", type=int, default=128); ap.add_argument("--out", default=None)
    ap.add_argument("--zoo-timings", action="store_true", help="the CUDA part (K-FAC vs Adam, batched Hessian) on any device")
    ap.add_argument("--skip-checks", action="store_true", help="leave out the CPU-sized reference checks (done by --device cpu)")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    res = {}
    checks = (("kfac", kfac_vs_curvlinops), ("lanczos", lanczos_vs_dense),
              ("mmd", lambda: mmd_rates(n_null=200, n_alt=50 if args.quick else 100)),
              ("pacbayes", lambda: pac_bayes_check(epochs=3 if args.quick else 8, n_models=4 if args.quick else 8)))
    for name, fn in checks if not args.skip_checks else ():
        t = time.perf_counter(); res.update(fn()); res[f"{name}_seconds"] = round(time.perf_counter() - t, 2)
        print(json.dumps({k: v for k, v in res.items() if not isinstance(v, list)}), flush=True)
    out = Path(args.out) if args.out else Path(__file__).resolve().parent / "results" / f"curvature-{args.device.split(':')[0]}.json"
    def save(): out.parent.mkdir(parents=True, exist_ok=True); out.write_text(json.dumps(res, indent=1) + "\n")
    res.update(device=args.device, command="python bench/curvature.py " + " ".join(sys.argv[1:] if argv is None else argv))
    if args.device.startswith("cuda") or args.zoo_timings:  # Adam first (its weights feed the Hessian timing), K-FAC last
        res["gpu"] = torch.cuda.get_device_name() if args.device.startswith("cuda") else None
        ds, group = load_dataset("small"), zoo_group(args.models)
        adam, trained = train_with("adam", group, ds, args.epochs, args.device); res.update(adam); save(); print(json.dumps(adam), flush=True)
        x = ds.images[:args.hessian_images].float().to(args.device); y = ds.labels[:args.hessian_images].to(args.device)
        res.update(hessian_batched_vs_loop(trained.to(args.device), x, y, args.lanczos_iter, args.loop_models, args.device)); save()
        print(json.dumps({k: v for k, v in res.items() if k.startswith("hessian")}), flush=True)
        res.update(train_with("kfac", group, ds, args.epochs, args.device)[0], kfac_models=args.models, kfac_epochs=args.epochs)
    res.update(quick=args.quick, torch=torch.__version__, python=platform.python_version(), commit=git_commit(),
               seconds=round(time.perf_counter() - start, 1),
               targets={"kfac_rel_err": "<= 1e-5", "lanczos_rel_err": "<= 1e-3", "mmd_null_fpr": "0.05 +- 0.03",
                        "hessian_batched_vs_loop": ">= 50 (cuda)"})
    save()
    print(json.dumps(res))


if __name__ == "__main__":
    main()
