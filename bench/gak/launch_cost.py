"""Host microseconds per call of the pieces of a GAK call (H100; the bench/kernels.py gak shape), warm (back to back):

    python bench/gak/launch_cost.py

The forward kernel through `triton.autotune`'s wrapper, through the JIT with the config it picked, and through the
compiled kernel's launcher (`kernels.gak._run`, what the package does after the first call); the feature map, a cast,
one `gak_attention` and one `gak_self_attention` forward. The last stdout line is JSON.
"""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: _cuda_timing, _gak_inputs
import argparse, time, math, json, torch, triton
ap = argparse.ArgumentParser(); ap.add_argument("--quick", action="store_true", help="(make bench)"); ap.parse_args()
if not torch.cuda.is_available(): raise SystemExit("bench/gak/launch_cost.py measures CUDA launch cost: run it on a GPU machine")
from _gak_inputs import SHAPE, gak_inputs
from neuralblitz_lab.kernels import gak as G
B, H, L, DH, MF, P = SHAPE.values()
q, k, v, theta, metric, omega, _ = gak_inputs(torch.Generator(device="cuda").manual_seed(2), **SHAPE, grad=False)
psi, c = G.gak_features(theta, omega, metric); psi = psi.bfloat16()
o = torch.empty_like(q); lse = torch.empty(B, H, L, device="cuda")
args = (q, k, v, psi, psi, c, o, lse, H, L, 1 / 8)
kw = dict(DH=DH, MF=MF, CAUSAL=False, MASK=False, DOT=1)
G._fwd_tuned[lambda m: (triton.cdiv(L, m["BM"]), B * H)](*args, **kw); torch.cuda.synchronize()
cfg = next(iter(G._fwd_tuned.cache.values())); print("config", cfg)
res = {}
def per_call(f, n=200):
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(n): f()
    dt = (time.perf_counter() - t) / n; torch.cuda.synchronize(); return round(dt * 1e6, 1)
res["tuned_us"] = per_call(lambda: G._fwd_tuned[lambda m: (triton.cdiv(L, m["BM"]), B * H)](*args, **kw))
ckw = dict(kw, **cfg.kwargs, num_warps=cfg.num_warps, num_stages=cfg.num_stages)
grid = (triton.cdiv(L, cfg.kwargs["BM"]), B * H)
res["direct_us"] = per_call(lambda: G._gak_fwd_kernel[grid](*args, **ckw))
res["compiled_us"] = per_call(lambda: G._run(G._gak_fwd_kernel, grid, args, dict(kw, **cfg.kwargs), cfg.num_warps, cfg.num_stages))
res["empty_like_us"] = per_call(lambda: torch.empty_like(q))
res["features_us"] = per_call(lambda: G.gak_features(theta, omega, metric, torch.bfloat16))
res["features_fn_us"] = per_call(lambda: G._FeaturesFn.apply(theta, omega, metric, torch.bfloat16))
th = theta.reshape(-1, P); N = len(th); psi32 = torch.empty(N, MF, device="cuda"); cc = torch.empty(N, device="cuda")
res["features_kernel_direct_us"] = per_call(lambda: G._features_fwd_kernel[(triton.cdiv(N, 64),)](th, omega, metric, psi32, cc, N, P, 0.5 * math.log(MF), PP=16, MF=MF, BR=64))
res["cast_us"] = per_call(lambda: psi32.to(torch.bfloat16))
res["attention_fwd_us"] = per_call(lambda: G.gak_attention(q, k, v, psi, psi, c, backend="triton"))
res["self_attention_fwd_us"] = per_call(lambda: G.gak_self_attention(q, k, v, theta, omega, metric, backend="triton"))
res["triton"] = triton.__version__
print(json.dumps(res))
