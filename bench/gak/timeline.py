"""Where one GAK benchmark call spends its time (H100; the bench/kernels.py gak shape: B=8, H=8, L=4096, Dh=64, m=64, p=16):

    python bench/gak/timeline.py

CUDA events recorded between the pieces of one call (features, attention forward, backward) give when the GPU got past
each piece, from an idle GPU at the call's start: the host latency before the forward kernel runs is visible there.
Host microseconds of each piece (perf_counter, no sync) and the profiler's kernel durations come with it. Medians of 20
calls; the last stdout line is JSON.
"""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: _cuda_timing, _gak_inputs
import argparse, json, time
import torch
ap = argparse.ArgumentParser(); ap.add_argument("--quick", action="store_true", help="(make bench)"); ap.parse_args()
if not torch.cuda.is_available(): raise SystemExit("bench/gak/timeline.py measures CUDA time: run it on a GPU machine")
from torch.profiler import profile, ProfilerActivity
from _gak_inputs import SHAPE, gak_inputs
from neuralblitz_lab.kernels import gak as G

g = torch.Generator(device="cuda").manual_seed(2)
q_, k_, v_, theta, metric, omega, do = gak_inputs(g, **SHAPE)
def call():
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(4)]; t = [time.perf_counter()]
    ev[0].record()
    ev[1].record(); t.append(time.perf_counter())  # (features and attention are one call now: no separate mark)
    o = G.gak_self_attention(q_, k_, v_, theta, omega, metric, backend="triton"); ev[2].record(); t.append(time.perf_counter())
    torch.autograd.grad(o, (q_, k_, v_, theta), do); ev[3].record(); t.append(time.perf_counter())
    torch.cuda.synchronize()
    return [round(ev[0].elapsed_time(e), 4) for e in ev[1:]], [round((b - a) * 1e6, 1) for a, b in zip(t, t[1:])]
for _ in range(5): call()
runs = [call() for _ in range(20)]
med = lambda xs: sorted(xs)[len(xs) // 2]
gpu = [med([r[0][i] for r in runs]) for i in range(3)]; host = [med([r[1][i] for r in runs]) for i in range(3)]
with profile(activities=[ProfilerActivity.CUDA]) as prof:
    call()
kern = {}
for e in prof.events():
    if e.device_type.name == "CUDA": kern[e.name[:40]] = round(kern.get(e.name[:40], 0) + (e.time_range.end - e.time_range.start) / 1e3, 4)
fwd = kern.get("_gak_fwd_kernel", float("nan"))
res = {"gpu_ms_at": dict(zip(("features", "forward", "backward"), gpu)), "host_us": dict(zip(("features", "forward", "backward"), host)),
       "kernel_ms": kern, "kernel_sum_ms": round(sum(kern.values()), 4), "start_latency_ms": round(gpu[1] - fwd, 4)}
print(json.dumps(res))
