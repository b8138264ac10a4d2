"""Where a vectorized zoo training step spends its time on a GPU, and what the step costs under other precisions/layouts.

    python bench/zoo_gpu_profile.py [--models 4096] [--steps 20] [--sweep 64,256,1024]

Times `train.train_step` (forward + backward + StackedAdam of `--models` CNNs, 64 images each) under the trainer's
settings (bf16 autocast, channels-last) and variants, then prints torch.profiler's top CUDA kernels of the default step.
`--sweep` times the default step at other model counts too (the fixed cost per step). The last stdout line is a JSON summary.
"""
import argparse, contextlib, json, time

import torch

from neuralblitz_lab.cnn import init_zoo_params, params_to_flat
from neuralblitz_lab.core import git_commit
from neuralblitz_lab.data import load_dataset, stack_experiences
from neuralblitz_lab.zoo.train import StackedAdam, TrainConfig, cyclic_lr, epoch_positions, train_step


def setup(n, device):
    ds = load_dataset("small", seed=0)
    import itertools
    pairs = list(itertools.combinations(range(10), 2))
    exps = [pairs[i % 45] for i in range(n)]
    idx, lens = stack_experiences(ds, exps, "train")
    pos = epoch_positions(list(range(n)), lens, 1)
    return ds.images.to(device), ds.labels.to(device), idx.to(device), pos.to(device)


def time_steps(n, steps, images, labels, idx, pos, dtype, cl, act="relu"):
    import neuralblitz_lab.cnn as cnn
    params = params_to_flat(init_zoo_params("kaiming_uniform", n, 0, device=images.device)).requires_grad_()
    opt = StackedAdam({"flat": params})
    lr = torch.full((n,), 1e-3, dtype=torch.float64, device=images.device)
    old = torch.channels_last
    ctx = torch.autocast("cuda", dtype=dtype, enabled=dtype is not None)
    def step(s):
        b = pos[:, (s % 10) * 64:(s % 10 + 1) * 64]
        with ctx, torch.backends.cudnn.flags(enabled=True, benchmark=True):
            train_step(params, opt, images, labels, idx, b, act, lr)
    if not cl: cnn.torch.channels_last = torch.contiguous_format  # NCHW variant (zoo_forward reads torch.channels_last)
    try:
        for s in range(5): step(s)
        torch.cuda.synchronize(); t = time.perf_counter()
        for s in range(steps): step(s)
        torch.cuda.synchronize(); dt = (time.perf_counter() - t) / steps
    finally:
        cnn.torch.channels_last = old
    return dt, step


def main():
    p = argparse.ArgumentParser(); p.add_argument("--models", type=int, default=4096); p.add_argument("--steps", type=int, default=20)
    p.add_argument("--sweep", default="", help="comma-separated model counts to time the default step at")
    a = p.parse_args()
    dev = torch.device("cuda")
    sweep = {}
    for m in [int(v) for v in a.sweep.split(",") if v]:
        im, lb, ix, ps = setup(m, dev)
        sweep[m] = round(time_steps(m, a.steps, im, lb, ix, ps, torch.bfloat16, True)[0] * 1e3, 2)
        print("models", m, sweep[m], "ms/step", flush=True)
    images, labels, idx, pos = setup(a.models, dev)
    res = {"models": a.models, "gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "commit": git_commit(),
           "sweep_ms_per_step": sweep}
    for name, dt, cl in [("bf16_cl", torch.bfloat16, True), ("fp16_cl", torch.float16, True), ("bf16_nchw", torch.bfloat16, False),
                         ("fp32_tf32_cl", None, True)]:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = dt is None
        s, _ = time_steps(a.models, a.steps, images, labels, idx, pos, dt, cl)
        res[f"{name}_ms_per_step"] = round(s * 1e3, 2); res[f"{name}_images_per_s"] = round(a.models * 64 / s)
        print(name, res[f"{name}_ms_per_step"], "ms/step", flush=True)
    _, step = time_steps(a.models, 2, images, labels, idx, pos, torch.bfloat16, True)
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        for s in range(5): step(s)
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25, max_name_column_width=70))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
