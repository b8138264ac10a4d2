"""Triton kernels against the standard PyTorch way of doing the same work, side by side (issue 10).

    python bench/kernels.py --device cuda [--quick] [--out bench/results/kernels-cuda.json] [--only pairwise,sinkhorn,gak,keops]

- pairwise: `pairwise_distances(x, x, "euclidean")` vs `torch.cdist(x, x)` at N = 20,000, d = 2,464 fp32; the radius
  graph vs `cdist` + mask + `nonzero`; an OOM demonstration (N = 150,000 points in 3-D: cdist needs 90 GB).
- sinkhorn: `sinkhorn_divergence` vs geomloss `SamplesLoss("sinkhorn", p=2, backend="tensorized")` (same ε schedule,
  so equal ε and iterations) and `entropic_ot` vs POT `ot.sinkhorn2(method="sinkhorn_log")` at equal ε and iterations
  (POT's time includes building its cost matrix, as its users must), N = M = 10,000, d = 64; values compared; an OOM
  demonstration at N = M = 150,000 (a dense cost matrix is 90 GB). `--only keops` times geomloss' KeOps backend
  ("online") beside ours, if pykeops compiles.
- gak: forward+backward of `gak_self_attention` (features + attention, grads to q, k, v and θ) vs the torch composition
  (the same features, written in bf16, the dense bias, SDPA with it as attn_mask) and vs SDPA without bias, B=8, H=8,
  L=4096, Dh=64 bf16, m = 64 features; peak memory of each. The headline times synchronize after every call (so host
  latency before the first kernel counts; fwd+bwd: 25 calls each, ours, the composition and SDPA taking turns in 5
  rounds); `*_pipelined_s` times 20 back-to-back calls (host work overlapping the GPU, as
  in a training loop) and is reported beside it, not instead of it.
Speedups are peer time / our time (> 1: ours is faster). Times are medians of CUDA-event-timed repeats after warm-up.
The last stdout line is the JSON summary.
"""
import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch

from _cuda_timing import cuda_median_ms, cuda_pipelined_ms, interleaved_median_ms
from _gak_inputs import SHAPE, gak_inputs
from neuralblitz_lab.core import git_commit

import neuralblitz_lab.kernels.gak as G
from neuralblitz_lab.kernels.gak import gak_attention_ref, gak_features, gak_self_attention
from neuralblitz_lab.kernels.pairwise import pairwise_distances, radius_graph
from neuralblitz_lab.kernels.sinkhorn import entropic_ot, sinkhorn_divergence


def timeit(fn, reps: int = 5, warmup: int = 2) -> float:
    "Median seconds of `fn()` over `reps` CUDA-event-timed calls after `warmup` calls."
    return cuda_median_ms(fn, reps, warmup) / 1e3


def peak_mem(fn) -> int:
    "Peak bytes allocated by `fn()` above what was allocated before (after one warm-up call: compilation, autotuning)."
    fn(); torch.cuda.synchronize(); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated(); fn(); torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def ooms(fn) -> bool:
    "Whether `fn()` raises CUDA out-of-memory."
    try: fn(); torch.cuda.synchronize(); return False
    except torch.OutOfMemoryError: return True
    finally: torch.cuda.empty_cache()


def log(msg): print(msg, flush=True)


def bench_pairwise(q: bool) -> dict:
    g = torch.Generator(device="cuda").manual_seed(0)
    N, d = (4000, 2464) if q else (20_000, 2464)
    x = torch.randn(N, d, device="cuda", generator=g)
    res = {"N": N, "d": d}
    res["cdist_s"] = timeit(lambda: torch.cdist(x, x))
    for prec in ("tf32x3", "ieee", "tf32"):
        res[f"ours_{prec}_s"] = timeit(lambda: pairwise_distances(x, x, "euclidean", precision=prec))
    res["ours_sqeuclidean_tf32x3_s"] = timeit(lambda: pairwise_distances(x, x, "sqeuclidean"))
    sub = x[:1000].double(); ref = torch.cdist(sub, x.double())
    for prec in ("tf32x3", "ieee", "tf32"):
        res[f"ours_{prec}_max_rel_err"] = ((pairwise_distances(x[:1000], x, "euclidean", precision=prec).double() - ref).abs().max() / ref.max()).item()
    res["cdist_max_rel_err"] = ((torch.cdist(x[:1000], x).double() - ref).abs().max() / ref.max()).item()
    res["speedup"] = res["cdist_s"] / res["ours_tf32x3_s"]
    # radius graph at the same size: the ~1% nearest pairs
    r = float(torch.cdist(x[:200], x).flatten().kthvalue(int(200 * N * 0.01)).values)
    res["radius_r"] = r
    res["radius_ours_s"] = timeit(lambda: radius_graph(x, r, x), reps=3)  # default capacity: too small here, two passes
    ei, _ = radius_graph(x, r, x)
    res["radius_ours_capacity_hint_s"] = timeit(lambda: radius_graph(x, r, x, capacity=ei.shape[1] + 1), reps=3)  # one pass
    res["radius_cdist_mask_s"] = timeit(lambda: (torch.cdist(x, x) <= r).nonzero(), reps=3)
    res["radius_edges"] = ei.shape[1]
    res["radius_edges_cdist"] = int((torch.cdist(x, x) <= r).sum())  # differ only by pairs within rounding of r
    res["radius_peak_bytes_ours"] = peak_mem(lambda: radius_graph(x, r, x))
    res["radius_peak_bytes_cdist_mask"] = peak_mem(lambda: (torch.cdist(x, x) <= r).nonzero())
    x = None; torch.cuda.empty_cache()  # free the 20,000 x 2,464 rows
    # OOM demonstration: 150,000 points in the unit cube, r for ~10 neighbours each
    n_big = 30_000 if q else 150_000
    p = torch.rand(n_big, 3, device="cuda", generator=g)
    rb = (10 / (n_big * 4 / 3 * math.pi)) ** (1 / 3)
    res["oom_N"] = n_big
    res["oom_cdist_ooms"] = ooms(lambda: (torch.cdist(p, p) <= rb).nonzero())
    t0 = time.perf_counter(); ei, _ = radius_graph(p, rb); torch.cuda.synchronize()
    res["oom_ours_s"] = time.perf_counter() - t0
    res["oom_ours_edges"] = ei.shape[1]
    res["oom_ours_peak_bytes"] = peak_mem(lambda: radius_graph(p, rb))
    return res


def geomloss_value(x, y, blur, scaling, backend):
    from geomloss import SamplesLoss
    return SamplesLoss("sinkhorn", p=2, blur=blur, scaling=scaling, backend=backend)(x, y)


def bench_sinkhorn(q: bool) -> dict:
    import ot
    g = torch.Generator(device="cuda").manual_seed(1)
    N, d = (2000, 64) if q else (10_000, 64)
    x = torch.randn(N, d, device="cuda", generator=g); y = torch.randn(N, d, device="cuda", generator=g) + 0.5
    blur, scaling = 0.1, 0.5
    res = {"N": N, "M": N, "d": d, "blur": blur, "scaling": scaling}
    ours = lambda: sinkhorn_divergence(x, y, blur=blur, scaling=scaling)
    peer = lambda: geomloss_value(x, y, blur, scaling, "tensorized")
    res["ours_s"] = timeit(ours, reps=3); res["geomloss_tensorized_s"] = timeit(peer, reps=3)
    v_ours, v_peer = ours().item(), peer().item()
    res.update(value_ours=v_ours, value_geomloss=v_peer, value_rel_diff=abs(v_ours - v_peer) / abs(v_peer))
    xg = x.clone().requires_grad_(); xr = x.clone().requires_grad_()
    ours_fb = lambda: torch.autograd.grad(sinkhorn_divergence(xg, y, blur=blur, scaling=scaling), xg)
    peer_fb = lambda: torch.autograd.grad(geomloss_value(xr, y, blur, scaling, "tensorized"), xr)
    res["ours_fwd_bwd_s"] = timeit(ours_fb, reps=3); res["geomloss_tensorized_fwd_bwd_s"] = timeit(peer_fb, reps=3)
    gx, gr = ours_fb()[0], peer_fb()[0]
    res["grad_rel_diff"] = ((gx - gr).abs().max() / gr.abs().max()).item()
    res["speedup_geomloss"] = res["geomloss_tensorized_s"] / res["ours_s"]
    # POT at equal eps and iterations (fixed eps, no scaling)
    eps, n_iter = 1.0, 100
    a = torch.full((N,), 1 / N, device="cuda"); b = a.clone()
    res.update(pot_eps=eps, pot_n_iter=n_iter)
    ours_p = lambda: entropic_ot(x, y, a, b, eps=eps, n_iter=n_iter)
    pot = lambda: ot.sinkhorn2(a, b, ot.dist(x, y) / 2, eps, method="sinkhorn_log", numItermax=n_iter, stopThr=0)
    res["ours_fixed_eps_s"] = timeit(ours_p, reps=3); res["pot_s"] = timeit(pot, reps=3)
    vo, vp = ours_p()[0].item(), float(pot())
    res.update(value_ours_fixed_eps=vo, value_pot=vp, value_pot_rel_diff=abs(vo - vp) / abs(vp))
    res["speedup_pot"] = res["pot_s"] / res["ours_fixed_eps_s"]
    x = y = None; torch.cuda.empty_cache()
    # OOM demonstration: a dense 150,000 x 150,000 cost matrix is 90 GB
    nb = 30_000 if q else 150_000
    xb = torch.randn(nb, d, device="cuda", generator=g); yb = torch.randn(nb, d, device="cuda", generator=g) + 0.5
    res["oom_N"] = nb
    res["oom_geomloss_tensorized_ooms"] = ooms(lambda: geomloss_value(xb, yb, 0.5, 0.5, "tensorized"))
    ab = torch.full((nb,), 1 / nb, device="cuda")
    res["oom_pot_ooms"] = ooms(lambda: ot.sinkhorn2(ab, ab, ot.dist(xb, yb) / 2, 1.0, method="sinkhorn_log", numItermax=10, stopThr=0))
    t0 = time.perf_counter(); v = sinkhorn_divergence(xb, yb, blur=0.5, scaling=0.5).item(); torch.cuda.synchronize()
    res.update(oom_ours_s=time.perf_counter() - t0, oom_ours_value=v, oom_ours_peak_bytes=peak_mem(lambda: sinkhorn_divergence(xb, yb, blur=0.5, scaling=0.5)))
    return res


def bench_keops(q: bool) -> dict:
    "geomloss' KeOps backend ('online') at the sinkhorn size, if pykeops compiles here; ours timed again beside it."
    g = torch.Generator(device="cuda").manual_seed(1)
    N, d = (2000, 64) if q else (10_000, 64)
    x = torch.randn(N, d, device="cuda", generator=g); y = torch.randn(N, d, device="cuda", generator=g) + 0.5
    res = {"N": N, "d": d}
    try:
        t0 = time.perf_counter(); v = geomloss_value(x, y, 0.1, 0.5, "online").item(); res["first_call_s"] = time.perf_counter() - t0
        res["geomloss_keops_s"] = timeit(lambda: geomloss_value(x, y, 0.1, 0.5, "online"), reps=3)
        res["ours_s"] = timeit(lambda: sinkhorn_divergence(x, y, blur=0.1, scaling=0.5), reps=3)
        res["value_keops"] = v; res["value_ours"] = sinkhorn_divergence(x, y, blur=0.1, scaling=0.5).item()
        res["speedup"] = res["geomloss_keops_s"] / res["ours_s"]
    except Exception as e:
        res["error"] = f"{type(e).__name__}: {str(e)[-400:]}"
    return res


def bench_gak(q: bool) -> dict:
    g = torch.Generator(device="cuda").manual_seed(2)
    B, H, L, DH, MF, P = (2, 8, 1024, 64, 64, 16) if q else SHAPE.values()
    torch.cuda.empty_cache()
    res = {"B": B, "H": H, "L": L, "Dh": DH, "m": MF, "p": P, "dtype": "bfloat16"}
    q_, k_, v_, theta, metric, omega, do = gak_inputs(g, B, H, L, DH, MF, P)

    def ours(bwd=True, causal=False):  # gak_features + gak_attention as one call (gak_self_attention)
        o = gak_self_attention(q_, k_, v_, theta, omega, metric, causal=causal, backend="triton")
        if bwd: torch.autograd.grad(o, (q_, k_, v_, theta), do)
        return o

    def composition(bwd=True, causal=False):
        psi, c = gak_features(theta, omega, metric, torch.bfloat16)
        o = gak_attention_ref(q_, k_, v_, psi, psi, c, causal=causal)
        if bwd: torch.autograd.grad(o, (q_, k_, v_, theta), do)
        return o

    def sdpa(bwd=True, causal=False):
        o = torch.nn.functional.scaled_dot_product_attention(q_, k_, v_, is_causal=causal)
        if bwd: torch.autograd.grad(o, (q_, k_, v_), do)
        return o

    with torch.no_grad(): res["out_rel_err_vs_composition"] = ((ours(False).float() - composition(False).float()).abs().max() / composition(False).float().abs().max()).item()
    go = torch.autograd.grad(ours(False), theta, do)[0]; gc = torch.autograd.grad(composition(False), theta, do)[0]
    res["theta_grad_rel_err_vs_composition"] = ((go - gc).abs().max() / gc.abs().max()).item()
    # fwd+bwd, the headline: 25 synchronized calls each, the three taking turns in 5 rounds
    for name, ms in interleaved_median_ms({"ours": ours, "composition": composition, "sdpa_nobias": sdpa}).items():
        res[f"{name}_fwd_bwd_s"] = ms / 1e3
    for name, fn in (("ours", ours), ("composition", composition), ("sdpa_nobias", sdpa)):
        res[f"{name}_fwd_bwd_pipelined_s"] = cuda_pipelined_ms(fn) / 1e3
        res[f"{name}_fwd_s"] = timeit(lambda: fn(False))
        res[f"{name}_causal_fwd_bwd_s"] = timeit(lambda: fn(True, True))
        res[f"{name}_peak_bytes"] = peak_mem(fn)
    res["one_LxL_bf16_bytes"] = B * L * L * 2
    # memory growth with L (B = 2): linear for ours (no L x L tensor), quadratic for the composition
    for L2 in (L // 2, L):
        q2, k2, v2, th2, _, _, do2 = gak_inputs(g, 2, H, L2, DH, MF, P)  # (same draws from g as before; Ω is the same)
        for name in ("ours", "composition"):
            def run():
                if name == "ours": o = gak_self_attention(q2, k2, v2, th2, omega, metric, backend="triton")
                else: psi, c = gak_features(th2, omega, metric, torch.bfloat16); o = gak_attention_ref(q2, k2, v2, psi, psi, c)
                torch.autograd.grad(o, (q2, k2, v2, th2), do2)
            res[f"{name}_peak_bytes_B2_L{L2}"] = peak_mem(run)
    res["ours_memory_growth_L_doubled"] = res[f"ours_peak_bytes_B2_L{L}"] / res[f"ours_peak_bytes_B2_L{L // 2}"]
    res["composition_memory_growth_L_doubled"] = res[f"composition_peak_bytes_B2_L{L}"] / res[f"composition_peak_bytes_B2_L{L // 2}"]
    # the tiles the autotuner picked in this process (timing noise can change them from run to run)
    res["tiles"] = {t.fn.__name__: str(cfg) for (t, key), cfg in G._BEST.items() if key[:3] == (L, DH, MF) and not key[3]}
    res["speedup_vs_composition"] = res["composition_fwd_bwd_s"] / res["ours_fwd_bwd_s"]
    res["speedup_vs_sdpa_nobias"] = res["sdpa_nobias_fwd_bwd_s"] / res["ours_fwd_bwd_s"]
    res["speedup_vs_sdpa_nobias_pipelined"] = res["sdpa_nobias_fwd_bwd_pipelined_s"] / res["ours_fwd_bwd_pipelined_s"]
    return res


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda"); p.add_argument("--quick", action="store_true", help="small sizes")
    p.add_argument("--only", default="pairwise,sinkhorn,gak"); p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    if not a.device.startswith("cuda") or not torch.cuda.is_available():  # `make bench` runs every script on CPU too
        out = {"skipped": f"bench/kernels.py compares GPU kernels; device={a.device!r}, CUDA available: "
                          f"{torch.cuda.is_available()}. Run it with --device cuda on a GPU machine"}
        print(json.dumps(out))
        return out
    import triton
    out = {"device": a.device, "gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
           "python": platform.python_version(), "git_commit": git_commit(), "quick": a.quick,
           "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for v in ("geomloss", "ot"):
        try: out[f"{v}_version"] = __import__(v).__version__
        except Exception as e: out[f"{v}_version"] = f"missing ({e})"
    parts = a.only.split(",")
    if "pairwise" in parts:
        log("pairwise ..."); out["pairwise"] = bench_pairwise(a.quick); out["pairwise_vs_cdist"] = out["pairwise"]["speedup"]
    if "sinkhorn" in parts:
        log("sinkhorn ..."); s = out["sinkhorn"] = bench_sinkhorn(a.quick)
        out["sinkhorn_vs_geomloss"] = s["speedup_geomloss"]; out["sinkhorn_vs_pot"] = s["speedup_pot"]
    if "keops" in parts:
        log("keops ..."); s = out["keops"] = bench_keops(a.quick)
        if "speedup" in s: out["sinkhorn_vs_geomloss_keops"] = s["speedup"]
    if "gak" in parts:
        log("gak ..."); s = out["gak"] = bench_gak(a.quick)
        out["gak_vs_sdpa_bias"] = s["speedup_vs_composition"]; out["gak_vs_sdpa_nobias"] = s["speedup_vs_sdpa_nobias"]
        out["gak_vs_sdpa_nobias_pipelined"] = s["speedup_vs_sdpa_nobias_pipelined"]  # beside the headline, not instead of it
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
