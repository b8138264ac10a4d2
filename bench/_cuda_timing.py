"""CUDA-event timing shared by the GPU benchmarks (`kernels.py`, `gak/bwd_variants.py`, `gak/overhead.py`); a helper module, so its
name starts with `_`: `make bench` runs only `bench/[!_]*.py`."""
import torch


def cuda_median_ms(fn, reps: int = 10, warmup: int = 3) -> float:
    "Median milliseconds of `fn()` over `reps` CUDA-event-timed calls after `warmup` untimed ones (each call synchronized)."
    return interleaved_median_ms({"fn": fn}, rounds=1, reps=reps, warmup=warmup)["fn"]


def cuda_pipelined_ms(fn, n: int = 20, warmup: int = 3) -> float:
    "Milliseconds per call of `n` back-to-back calls of `fn()` (one sync at the end): host work overlaps the GPU, as in a training loop."
    for _ in range(warmup): fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(n): fn()
    b.record(); torch.cuda.synchronize()
    return a.elapsed_time(b) / n


def interleaved_median_ms(fns: dict, rounds: int = 5, reps: int = 5, warmup: int = 2) -> dict:
    """{name: median milliseconds} of each `fns[name]()` over `rounds` x `reps` synchronized calls, the functions taking
    turns round by round (so a slow stretch of the machine, clocks or host, falls on all of them alike)."""
    samples = {n: [] for n in fns}
    for n, f in fns.items():
        for _ in range(warmup): f()
    for _ in range(rounds):
        for n, f in fns.items():
            torch.cuda.synchronize()
            for _ in range(reps):
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record(); f(); b.record(); torch.cuda.synchronize()
                samples[n].append(a.elapsed_time(b))
    return {n: sorted(s)[len(s) // 2] for n, s in samples.items()}
