"""Where a vectorized zoo training step spends its time on a GPU, and what the step costs under other precisions/layouts.

    python bench/zoo_gpu_profile.py [--models 4096] [--steps 20] [--sweep 64,256,1024]
    python bench/zoo_gpu_profile.py --budget relu [--epochs 12 --bins 11] [--stem-sweep] [--kernels] [--quick]

`--budget ACT`: one pass of the `full` build (the six init shards of one activation, as `build_zoo` trains them) with
its phases timed, GPU time per step by row count, shard writes, and the first epochs of the step loop and of the eager
prefix loop on the same models; `--stem-sweep`: the fused stem's tile choices; `--kernels`: torch.profiler's kernel
table of a step.

Times `train.train_step` (forward + backward + StackedAdam of `--models` CNNs, 64 images each) under the trainer's
settings (bf16 autocast, channels-last) and variants, then prints torch.profiler's top CUDA kernels of the default step.
`--sweep` times the default step at other model counts too (the fixed cost per step). The last stdout line is a JSON summary.
"""
import argparse, contextlib, json, os, time
from pathlib import Path

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


def _sync():
    torch.cuda.synchronize()


def build_budget(activation: str, epochs: int, bins: tuple, out_dir: Path | None) -> dict:
    """One pass of the `full` build (the six init shards of `activation`, 6,078 models, as `build_zoo` trains them) with
    its phases timed (synchronized around each), then the same pass's first epochs by the step loop for comparison."""
    import dataclasses
    from neuralblitz_lab.core import get_profile
    from neuralblitz_lab.zoo import train as T
    from neuralblitz_lab.zoo.store import ZooWriter
    prof = get_profile("full")
    cfg = dataclasses.replace(T.train_config(prof), max_epochs=epochs, epoch_bins=bins)
    ds = load_dataset(prof, None, 0)
    groups = [(k, g) for k, g in T.plan_groups(T.plan_zoo(prof, 0), T.GPU_GROUP_SIZE) if g.activation == activation]
    acc, cnt = {}, {}
    def timed(owner, name, label=None):
        f = getattr(owner, name); label = label or name
        def w(*a, **k):
            _sync(); t = time.perf_counter()
            try: return f(*a, **k)
            finally:
                _sync(); acc[label] = acc.get(label, 0.0) + time.perf_counter() - t; cnt[label] = cnt.get(label, 0) + 1
        setattr(owner, name, w); return f
    steps_ev = {}  # b -> [(start, end) events]: GPU time of each (graph) step, unsynchronized
    orig_step = T._PrefixSteps._step
    def step_ev(self, b):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record(); orig_step(self, b); e1.record(); steps_ev.setdefault(b, []).append((e0, e1))
    patched = [(T, n, timed(T, n)) for n in ("_end_of_epoch", "_metrics", "evaluate", "batch_positions")]
    patched += [(T._Checkpoints, n, timed(T._Checkpoints, n)) for n in ("take", "finish", "rows_and_weights")]
    patched += [(T._PrefixSteps, n, timed(T._PrefixSteps, n)) for n in ("epoch", "_capture")]
    T._PrefixSteps._step = step_ev
    stamps = []
    def progress(epoch, active): _sync(); stamps.append((epoch, time.perf_counter(), int(active.sum())))
    try:
        _sync(); t0 = time.perf_counter()
        results = T.train_stacked([g for _, g in groups], ds, cfg, "cuda", progress=progress)
        _sync(); t_pass = time.perf_counter() - t0
    finally:
        for owner, n, f in patched: setattr(owner, n, f)
        T._PrefixSteps._step = orig_step
    by_b = {b: (len(v), sum(a.elapsed_time(c) for a, c in v)) for b, v in sorted(steps_ev.items())}
    t_write = None
    if out_dir is not None:
        import shutil
        shutil.rmtree(out_dir, ignore_errors=True)
        w = ZooWriter(out_dir, {"profile": "budget"}, cfg.epoch_bins, cfg.max_epochs)
        t = time.perf_counter()
        for (key, _), (weights, rows) in zip(groups, results): w.write_shard(key, weights, rows)
        t_write = time.perf_counter() - t
    epoch_s = [round(b[1] - a[1], 3) for a, b in zip([(0, t0, 0)] + stamps[:-1], stamps)]
    res = {"activation": activation, "models": sum(len(g) for _, g in groups), "epochs": epochs, "bins": list(bins),
           "pass_seconds": round(t_pass, 2), "epoch_seconds": epoch_s, "active_after_epoch": [s[2] for s in stamps],
           "phases_seconds_inclusive": {k: round(v, 3) for k, v in acc.items()}, "phase_calls": cnt,
           "steps_by_rows": {str(b): {"steps": n, "gpu_ms": round(ms, 2), "ms_per_step": round(ms / n, 3)} for b, (n, ms) in by_b.items()},
           "checkpoints": sum(len(r) for _, r in results), "write_seconds": round(t_write, 2) if t_write else None}
    # the step loop (`train_step`, before this change) on the same pass, a few epochs, for comparison
    old = dict(T.PREFIX_STEPS)
    for name, upd in (("step_loop", dict(devices=())), ("prefix_eager", dict(graphs=False))):
        T.PREFIX_STEPS.update(upd); stamps.clear()
        try:
            c3 = dataclasses.replace(cfg, max_epochs=3, epoch_bins=(3,))
            _sync(); t0 = time.perf_counter()
            T.train_stacked([g for _, g in groups], ds, c3, "cuda", progress=progress)
            _sync()
        finally: T.PREFIX_STEPS.clear(); T.PREFIX_STEPS.update(old)
        res[f"{name}_epoch_seconds"] = [round(b[1] - a[1], 3) for a, b in zip([(0, t0, 0)] + stamps[:-1], stamps)]
    return res


def stem_sweep(models: int = 4096, batch: int = 64) -> dict:
    "The fused stem's forward and forward + backward (bf16, `models` x `batch` images) under tile choices, CUDA event medians."
    from neuralblitz_lab.kernels import stem as S
    ds = load_dataset("small", seed=0)
    images = ds.images.cuda()
    g = torch.Generator(device="cuda").manual_seed(0)
    idx = torch.randint(0, len(images), (models, batch), device="cuda", generator=g)
    w = (0.2 * torch.randn(models, 8, 1, 5, 5, device="cuda", generator=g)).requires_grad_()
    b = torch.zeros(models, 8, device="cuda").requires_grad_()
    def bench(fn, n=10):
        for _ in range(3): fn()
        ts = []
        for _ in range(n):
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record(); fn(); e1.record(); e1.synchronize(); ts.append(e0.elapsed_time(e1))
        return sorted(ts)[n // 2]
    old, out = dict(S.STEM_TILES), {}
    ref = None
    try:
        for fwd in ((64, 4), (32, 2), (64, 2), (128, 4), (128, 8), (256, 8)):
            for bwd in ((64, 4), (32, 2), (64, 2), (128, 4), (128, 8)):
                for bfi in (False, True):
                    if fwd != (64, 4) and bwd != (64, 4): continue  # one choice at a time
                    S.STEM_TILES.update(fwd=fwd, bwd=bwd, bf16_images=bfi)
                    with torch.autocast("cuda", dtype=torch.bfloat16):
                        f = lambda: S.stem_forward(images, idx, w, b, "relu")
                        def fb():
                            h = f(); gw, gb = torch.autograd.grad(h.float().square().sum(), (w, b)); return gw
                        gw = fb()
                        if ref is None: ref = gw
                        err = float((gw - ref).norm() / ref.norm())
                        out[f"fwd{fwd}_bwd{bwd}_bf16img{int(bfi)}"] = {"fwd_ms": round(bench(f), 3), "fwd_bwd_ms": round(bench(fb), 3), "rel_err": err}
                    print(list(out.items())[-1], flush=True)
    finally: S.STEM_TILES.clear(); S.STEM_TILES.update(old)
    return out


def kernel_table(models: int = 4096) -> str:
    "torch.profiler's top CUDA kernels of five eager prefix steps (the graph's contents) at `models` rows."
    images, labels, idx, pos = setup(models, torch.device("cuda"))
    _, step = time_steps(models, 2, images, labels, idx, pos, torch.bfloat16, True)
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        for s in range(5): step(s)
        torch.cuda.synchronize()
    return prof.key_averages().table(sort_by="cuda_time_total", row_limit=30, max_name_column_width=70)


def main():
    p = argparse.ArgumentParser(); p.add_argument("--models", type=int, default=4096); p.add_argument("--steps", type=int, default=20)
    p.add_argument("--sweep", default="", help="comma-separated model counts to time the default step at")
    p.add_argument("--budget", default=None, help="activation: time one pass of the full build by phase")
    p.add_argument("--epochs", type=int, default=12); p.add_argument("--bins", default="11")
    p.add_argument("--stem-sweep", action="store_true"); p.add_argument("--kernels", action="store_true")
    p.add_argument("--write-dir", type=Path, default=Path("/tmp/zoo_budget"))
    p.add_argument("--quick", action="store_true", help="budget: 2 epochs")
    a = p.parse_args()
    if a.budget or a.stem_sweep or a.kernels:
        res = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "commit": git_commit()}
        if a.quick: a.epochs, a.bins = 2, "2"
        if a.budget: res["budget"] = build_budget(a.budget, a.epochs, tuple(int(b) for b in a.bins.split(",")), a.write_dir); print(json.dumps(res["budget"]), flush=True)
        if a.stem_sweep: res["stem_sweep"] = stem_sweep()
        if a.kernels: print(kernel_table(a.models))
        print(json.dumps(res))
        return res
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
