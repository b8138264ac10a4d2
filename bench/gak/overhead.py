"""Where the GAK benchmark's time goes beyond its kernels (H100; B=8, H=8, L=4096, Dh=64, m=64, p=16, bf16):

    python bench/gak/overhead.py [--out bench/results/gak/overhead-cuda.json]

`full` is bench/kernels.py's `ours` (`gak_self_attention`: features from θ and attention in one call, gradients to q, k,
v, θ); `twocalls` is the same as `gak_features` then `gak_attention`; `nofeat` starts from given
features; `featonly` is the feature map's forward+backward alone; `graph_full` replays `full` as one CUDA graph, so it is
the GPU time with no launch gaps (the floor for `full` without fusing anything); `*_cpu_ms_per_call` is the host time to
issue one call. CUDA-event medians of 20 calls after 5 warm-ups; the last stdout line is the JSON summary.
"""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: _cuda_timing, _gak_inputs
import argparse, json
import time
import torch
from _cuda_timing import cuda_median_ms
from _gak_inputs import SHAPE, gak_inputs
from neuralblitz_lab.kernels import gak as G
def timeit(fn, reps=20, warmup=5): return cuda_median_ms(fn, reps, warmup)
ap = argparse.ArgumentParser(); ap.add_argument("--out"); ap.add_argument("--quick", action="store_true", help="(make bench)")
out = ap.parse_args().out
if not torch.cuda.is_available(): raise SystemExit("bench/gak/overhead.py measures CUDA launch and kernel time: run it on a GPU machine")
res = {}
g = torch.Generator(device="cuda").manual_seed(2)
q_, k_, v_, theta, metric, omega, do = gak_inputs(g, **SHAPE)
psi0, c0 = G.gak_features(theta.detach(), omega, metric)
psib = psi0.to(torch.bfloat16).requires_grad_(); c0 = c0.requires_grad_()
def full():
    o = G.gak_self_attention(q_, k_, v_, theta, omega, metric, backend="triton"); torch.autograd.grad(o, (q_, k_, v_, theta), do)
def twocalls():
    psi, c = G.gak_features(theta, omega, metric, torch.bfloat16)
    o = G.gak_attention(q_, k_, v_, psi, psi, c, backend="triton"); torch.autograd.grad(o, (q_, k_, v_, theta), do)
def nofeat():
    o = G.gak_attention(q_, k_, v_, psib, psib, c0, backend="triton"); torch.autograd.grad(o, (q_, k_, v_, psib, c0), do)
def featonly():
    psi, c = G.gak_features(theta, omega, metric, torch.bfloat16); torch.autograd.grad((psi.sum() + c.sum()), theta)
def sdpa():
    o = torch.nn.functional.scaled_dot_product_attention(q_, k_, v_); torch.autograd.grad(o, (q_, k_, v_), do)
for n, f in (("full", full), ("twocalls", twocalls), ("nofeat", nofeat), ("featonly", featonly), ("sdpa", sdpa)):
    res[n + "_ms"] = round(timeit(f), 3); print(n, res[n + "_ms"], flush=True)
# CPU time per call (no sync): launch overhead
for n, f in (("full", full), ("nofeat", nofeat)):
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(20): f()
    cpu = (time.perf_counter() - t) / 20; torch.cuda.synchronize(); tot = (time.perf_counter() - t) / 20
    res[n + "_cpu_ms_per_call"], res[n + "_wall_ms_per_call"] = round(cpu * 1e3, 3), round(tot * 1e3, 3)
# graph replay of full: GPU-only time
s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
with torch.cuda.stream(s):
    for _ in range(3): full()
torch.cuda.current_stream().wait_stream(s)
gr = torch.cuda.CUDAGraph()
try:
    with torch.cuda.graph(gr): full()
    res["graph_full_ms"] = round(timeit(gr.replay), 3)
except Exception as e: res["graph_full_error"] = f"{type(e).__name__}: {str(e)[:200]}"
res.update(gpu=torch.cuda.get_device_name(), torch=torch.__version__)
res["sdpa_over_graph_full"] = round(res["sdpa_ms"] / res["graph_full_ms"], 3) if "graph_full_ms" in res else None
if out: open(out, "w").write(json.dumps(res, indent=1) + "\n")
print(json.dumps(res))
