"""GAK attention design alternatives on a GPU, side by side with SDPA (B=8, H=8, L=4096, Dh=64, m=64, bf16):

    python bench/gak_variants.py [--out bench/results/gak_variants-cuda.json]

- `current`: the package's kernels (`kernels.gak`): forward, then two backward kernels (dK/dV/dψ_K looping over queries,
  dQ/dψ_Q looping over keys), each recomputing QKᵀ and ψ_Qψ_Kᵀ: 3 + 6 + 5 = 14 tile matmuls per (query, key) tile pair.
- `wide`: the same kernels with twice as many autotune candidates (larger tiles, more stages).
- `fused`: one backward kernel (FlashAttention-2 style) that adds dQ and dψ_Q with fp32 atomics: 3 + 8 = 11 matmuls.
Raw kernel times (features ψ given, no autograd), median of 10 CUDA-event-timed calls after 3 warm-ups; the last stdout
line is the JSON summary. Measured once on an H100 on 2026-11-24 (bench/results/gak_variants-cuda.json): current
6.55 ms, wide 6.39 ms, fused 8.07 ms (the atomics cost more than the recomputation they save), SDPA without bias 2.24 ms.
"""
import json, math, time
import torch
import triton
import triton.language as tl
from neuralblitz_lab.kernels import gak as G

def timeit(fn, reps=10, warmup=3):
    for _ in range(warmup): fn()
    torch.cuda.synchronize(); ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); torch.cuda.synchronize(); ts.append(a.elapsed_time(b))
    return sorted(ts)[len(ts) // 2]

@triton.jit
def _bwd_fused(q_ptr, k_ptr, v_ptr, pq_ptr, pk_ptr, ck_ptr, do_ptr, lse_ptr, delta_ptr,
               dq_ptr, dk_ptr, dv_ptr, dpq_ptr, dpk_ptr, dck_ptr, H, L, scale,
               DH: tl.constexpr, MF: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
               CAUSAL: tl.constexpr, DOT: tl.constexpr):
    pid, bh = tl.program_id(0), tl.program_id(1)
    b = bh // H
    qkv_off = bh.to(tl.int64) * L * DH; f_off = b.to(tl.int64) * L * MF
    offs_n = pid * BN + tl.arange(0, BN); offs_d = tl.arange(0, DH); offs_f = tl.arange(0, MF)
    k, v, pk, ck = G._key_tile(k_ptr, v_ptr, pk_ptr, ck_ptr, qkv_off, f_off, b, offs_n, L, DH, MF)
    dk = tl.zeros((BN, DH), tl.float32); dv = tl.zeros((BN, DH), tl.float32)
    dpk = tl.zeros((BN, MF), tl.float32); dck = tl.zeros((BN,), tl.float32)
    lo = (pid * BN // BM) * BM if CAUSAL else 0
    for start in range(lo, L, BM):
        offs_m = start + tl.arange(0, BM)
        q, pq, do, lse, delta = G._query_tile(q_ptr, pq_ptr, do_ptr, lse_ptr, delta_ptr, qkv_off, f_off, bh, offs_m, L, DH, MF)
        sq, kap = G._logits(q, k, pq, pk, ck, offs_m, offs_n, L, scale, CAUSAL, DOT)
        kc = tl.maximum(kap, 1e-30)
        pt = tl.exp2(sq - lse[:, None])
        dv = G._dot(tl.trans((pt * kc).to(do.dtype)), do, dv, DOT)
        dp = G._dot(do, tl.trans(v), tl.zeros((BM, BN), tl.float32), DOT)
        t = pt * (dp - delta[:, None])
        ds = t * kc
        dsh = ds.to(q.dtype)
        dk = G._dot(tl.trans(dsh), q, dk, DOT)
        r = tl.where(kap > 1e-30, t, 0.0).to(pq.dtype)
        dpk = G._dot(tl.trans(r), pq, dpk, DOT)
        dck += tl.sum(ds, axis=0)
        dq_part = G._dot(dsh, k, tl.zeros((BM, DH), tl.float32), DOT)
        tl.atomic_add(dq_ptr + qkv_off + offs_m[:, None] * DH + offs_d[None, :], dq_part, mask=offs_m[:, None] < L, sem="relaxed")
        dpq_part = G._dot(r, pk, tl.zeros((BM, MF), tl.float32), DOT)
        tl.atomic_add(dpq_ptr + f_off + offs_m[:, None] * MF + offs_f[None, :], dpq_part, mask=offs_m[:, None] < L, sem="relaxed")
    tl.store(dk_ptr + qkv_off + offs_n[:, None] * DH + offs_d[None, :], (dk * scale).to(dk_ptr.dtype.element_ty), mask=offs_n[:, None] < L)
    tl.store(dv_ptr + qkv_off + offs_n[:, None] * DH + offs_d[None, :], dv.to(dv_ptr.dtype.element_ty), mask=offs_n[:, None] < L)
    tl.atomic_add(dpk_ptr + f_off + offs_n[:, None] * MF + offs_f[None, :], dpk, mask=offs_n[:, None] < L, sem="relaxed")
    tl.atomic_add(dck_ptr + b.to(tl.int64) * L + offs_n, dck, mask=offs_n < L, sem="relaxed")

def cfgs(shapes): return [triton.Config({"BM": bm, "BN": bn}, num_warps=w, num_stages=s) for bm, bn, w, s in shapes]
KEY = ["L", "DH", "MF", "CAUSAL"]
fused_tuned = triton.autotune(cfgs([(64, 64, 4, 2), (64, 128, 8, 2), (32, 128, 4, 3), (64, 128, 4, 2), (128, 128, 8, 2), (64, 64, 4, 3)]), key=KEY, reset_to_zero=["dq_ptr", "dpq_ptr", "dpk_ptr", "dck_ptr"])(_bwd_fused)
fwd_wide = triton.autotune(cfgs([(128, 64, 4, 3), (128, 64, 8, 3), (128, 128, 8, 3), (128, 128, 8, 4), (128, 64, 4, 4), (64, 64, 4, 3), (64, 128, 4, 3), (128, 32, 4, 4), (256, 64, 8, 3)]), key=KEY)(G._gak_fwd_kernel)
kv_wide = triton.autotune(cfgs([(64, 64, 4, 2), (32, 128, 4, 3), (64, 128, 8, 2), (64, 64, 8, 3), (32, 64, 4, 3), (32, 128, 4, 5), (64, 128, 4, 3), (32, 128, 8, 3), (64, 64, 4, 4)]), key=KEY)(G._gak_bwd_kv_kernel)
q_wide = triton.autotune(cfgs([(64, 64, 4, 2), (128, 32, 4, 3), (128, 64, 8, 2), (64, 64, 8, 3), (64, 32, 4, 3), (128, 32, 4, 5), (128, 64, 4, 3), (128, 32, 8, 3), (64, 64, 4, 4)]), key=KEY)(G._gak_bwd_q_kernel)

def run_variant(kind, q, k, v, pq, pk, ck, do, causal=False):
    B, H, L, DH = q.shape; MF = pq.shape[-1]; scale = 1 / math.sqrt(DH)
    o = torch.empty_like(q); lse = torch.empty(B, H, L, device=q.device)
    fwd = G._fwd_tuned if kind == "current" else fwd_wide
    fwd[lambda m: (triton.cdiv(L, m["BM"]), B * H)](q, k, v, pq, pk, ck, o, lse, H, L, scale, DH=DH, MF=MF, CAUSAL=causal, DOT=1)
    if do is None: return o
    delta = (do.float() * o.float()).sum(-1)
    args = (q, k, v, pq, pk, ck, do, lse, delta); kw = dict(DH=DH, MF=MF, CAUSAL=causal, DOT=1)
    if kind == "fused":
        dq = torch.zeros(B, H, L, DH, device=q.device); dk, dv = torch.empty_like(k), torch.empty_like(v)
        dpq = torch.zeros(B, L, MF, device=q.device); dpk = torch.zeros_like(dpq); dck = torch.zeros(B, L, device=q.device)
        fused_tuned[lambda m: (triton.cdiv(L, m["BN"]), B * H)](*args, dq, dk, dv, dpq, dpk, dck, H, L, scale, **kw)
        return o, (dq * scale).to(q.dtype), dk, dv, dpq, dpk, dck
    kvk, qk = (G._bwd_kv_tuned, G._bwd_q_tuned) if kind == "current" else (kv_wide, q_wide)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    dpq = torch.empty(B, H, L, MF, device=q.device); dpk = torch.empty_like(dpq); dck = torch.empty(B, H, L, device=q.device)
    kvk[lambda m: (triton.cdiv(L, m["BN"]), B * H)](*args, dk, dv, dpk, dck, H, L, scale, **kw)
    qk[lambda m: (triton.cdiv(L, m["BM"]), B * H)](*args, dq, dpq, H, L, scale, **kw)
    return o, dq, dk, dv, dpq.sum(1), dpk.sum(1), dck.sum(1)

def main():
    import argparse
    ap = argparse.ArgumentParser(description="GAK kernel variants vs SDPA"); ap.add_argument("--out", default=None)
    out_path = ap.parse_args().out
    g = torch.Generator(device="cuda").manual_seed(2)
    B, H, L, DH, MF, P = 8, 8, 4096, 64, 64, 16
    q, k, v, do = (torch.randn(B, H, L, DH, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(4))
    theta = 0.3 * torch.randn(B, L, P, device="cuda", generator=g)
    metric = torch.ones(P, device="cuda"); omega = G.draw_omega(metric, MF, torch.Generator().manual_seed(0))
    psi, c = G.gak_features(theta, omega, metric); psi = psi.to(torch.bfloat16); c = c.float().contiguous()
    res = {}
    sd = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v)
    qq, kk, vv = (t.clone().requires_grad_() for t in (q, k, v))
    def sdb():
        o = torch.nn.functional.scaled_dot_product_attention(qq, kk, vv); torch.autograd.grad(o, (qq, kk, vv), do)
    res["sdpa_fwd_ms"] = timeit(sd); res["sdpa_fwdbwd_ms"] = timeit(sdb)
    ref = None
    for causal in (False, True):
        for kind in ("current", "wide", "fused"):
            t0 = time.time(); run_variant(kind, q, k, v, psi, psi, c, do, causal); torch.cuda.synchronize()
            res[f"{kind}_c{int(causal)}_first_call_s"] = time.time() - t0
            out = run_variant(kind, q, k, v, psi, psi, c, do, causal)
            if kind == "current": ref = out
            else:
                res[f"{kind}_c{int(causal)}_maxrel"] = max(((a.float() - b.float()).abs().max() / b.float().abs().max()).item() for a, b in zip(out, ref))
            res[f"{kind}_c{int(causal)}_fwd_ms"] = timeit(lambda: run_variant(kind, q, k, v, psi, psi, c, None, causal))
            res[f"{kind}_c{int(causal)}_fwdbwd_ms"] = timeit(lambda: run_variant(kind, q, k, v, psi, psi, c, do, causal))
            print(kind, causal, {kk_: round(vv_, 4) for kk_, vv_ in res.items() if kk_.startswith(kind + f"_c{int(causal)}")}, flush=True)
    for name, t in (("fwd_cur", G._fwd_tuned), ("kv_cur", G._bwd_kv_tuned), ("q_cur", G._bwd_q_tuned), ("fwd_wide", fwd_wide), ("kv_wide", kv_wide), ("q_wide", q_wide), ("fused", fused_tuned)):
        res[f"best_{name}"] = {str(k_): str(v_) for k_, v_ in t.cache.items()}
    res.update(gpu=torch.cuda.get_device_name(), torch=torch.__version__, triton=triton.__version__)
    if out_path: open(out_path, "w").write(json.dumps(res, indent=1))
    print(json.dumps(res))

if __name__ == "__main__":
    main()
