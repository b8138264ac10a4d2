"""GAK backward designs on a GPU, side by side (B=8, H=8, L=4096, Dh=64, m=64 features, bf16; issue 10):

    python bench/gak/bwd_variants.py [--sweep] [--out bench/results/gak/bwd_variants-cuda.json]
    TRITON_INTERPRET=1 python bench/gak/bwd_variants.py --check     # CPU: every variant against the torch reference

- `untransposed`: the previous backward (until commit 5a9ea83): (queries x keys) tiles in both kernels, so the key-side
  kernel transposes three computed tiles (P, dS, dS/K) through shared memory; per-head dψ buffers summed by torch; δ by torch.
- `package`: `kernels.gak` now: the key-side kernel computes (keys x queries) tiles, S^T = K Q^T, so every matmul's left
  operand is the accumulator itself; δ in one small kernel; dψ, dc added over heads with float32 atomics.
- `two_heads`: `package` with two heads per program, so the kernel tile ψ_Q ψ_K^T (the same for every head) and the dψ
  matmul are shared by two heads (14 -> 11.5 tile matmuls per head): fewer flops, but twice the accumulators per program.
- `--sweep`: every (BM, BN, warps, stages) of the package's three kernels, one at a time (the autotune lists come from it).
Kernel times only (features given), median of 10 CUDA-event-timed calls after 3 warm-ups; the last stdout line is JSON.
The previous variants script (`wide` tiles, a `fused` backward with fp32 atomics for dQ: 8.07 ms) is bench/gak_variants.py
at commit 5a9ea83; its numbers are in bench/results/gak/variants-cuda.json.
"""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: _cuda_timing, _gak_inputs
import argparse, itertools, json, math, os
import torch
if not torch.cuda.is_available(): os.environ.setdefault("TRITON_INTERPRET", "1")  # --check on the CPU: before triton is imported
import triton
import triton.language as tl
from _cuda_timing import cuda_median_ms
from neuralblitz_lab.kernels import gak as G

def timeit(fn, reps=10, warmup=3): return cuda_median_ms(fn, reps, warmup)

# ---- untransposed (the previous package kernels) ----
@triton.jit
def _logits(q, k, pq, pk, ck, offs_m, offs_n, L, scale, CAUSAL: tl.constexpr, DOT: tl.constexpr):
    "One (BM, BN) tile: base-2 logits without the kernel (-inf where masked) and K = ψ_Q ψ_Kᵀ."
    qk = G._dot(q, tl.trans(k), tl.zeros((offs_m.shape[0], offs_n.shape[0]), tl.float32), DOT)
    kap = G._dot(pq, tl.trans(pk), tl.zeros((offs_m.shape[0], offs_n.shape[0]), tl.float32), DOT)
    sq = (qk * scale + ck[None, :]) * 1.4426950408889634
    ok = offs_n[None, :] < L
    if CAUSAL: ok = ok & (offs_n[None, :] <= offs_m[:, None])
    return tl.where(ok, sq, -float("inf")), kap

@triton.jit
def _query_rows_old(q_ptr, pq_ptr, do_ptr, lse_ptr, delta_ptr, qkv_off, f_off, bh, offs_m, L, DH: tl.constexpr, MF: tl.constexpr):
    "Q, ψ_Q, dO (rows), the log-sum-exp and δ read from memory, of the queries `offs_m`: the previous kernels' `_query_tile`."
    lse, delta = G._query_stats(lse_ptr, delta_ptr, bh, offs_m, L)
    return G._rows(q_ptr, qkv_off, offs_m, L, DH), G._rows(pq_ptr, f_off, offs_m, L, MF), G._rows(do_ptr, qkv_off, offs_m, L, DH), lse, delta

@triton.jit
def _kv_old(q_ptr, k_ptr, v_ptr, pq_ptr, pk_ptr, ck_ptr, do_ptr, lse_ptr, delta_ptr,
                       dk_ptr, dv_ptr, dpk_ptr, dck_ptr, H, L, scale,
                       DH: tl.constexpr, MF: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
                       CAUSAL: tl.constexpr, DOT: tl.constexpr):
    "dK, dV, dψ_K and dc_K for BN keys of one (batch, head), looping over the queries."
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
        q, pq, do, lse, delta = _query_rows_old(q_ptr, pq_ptr, do_ptr, lse_ptr, delta_ptr, qkv_off, f_off, bh, offs_m, L, DH, MF)
        sq, kap = _logits(q, k, pq, pk, ck, offs_m, offs_n, L, scale, CAUSAL, DOT)
        kc = tl.maximum(kap, 1e-30)
        pt = tl.exp2(sq - lse[:, None])  # P / K (<= 1e30): the softmax is P = pt K
        dv = G._dot(tl.trans((pt * kc).to(do.dtype)), do, dv, DOT)
        dp = G._dot(do, tl.trans(v), tl.zeros((BM, BN), tl.float32), DOT)
        t = pt * (dp - delta[:, None])
        ds = t * kc  # dL/dlogits = P (dP - delta)
        dk = G._dot(tl.trans(ds.to(q.dtype)), q, dk, DOT)
        r = tl.where(kap > 1e-30, t, 0.0)  # dL/dK = dS / K: no division, and 0 under the floor
        dpk = G._dot(tl.trans(r.to(pq.dtype)), pq, dpk, DOT)
        dck += tl.sum(ds, axis=0)
    tl.store(dk_ptr + qkv_off + offs_n[:, None] * DH + offs_d[None, :], (dk * scale).to(dk_ptr.dtype.element_ty), mask=offs_n[:, None] < L)
    tl.store(dv_ptr + qkv_off + offs_n[:, None] * DH + offs_d[None, :], dv.to(dv_ptr.dtype.element_ty), mask=offs_n[:, None] < L)
    tl.store(dpk_ptr + bh.to(tl.int64) * L * MF + offs_n[:, None] * MF + offs_f[None, :], dpk, mask=offs_n[:, None] < L)
    tl.store(dck_ptr + bh.to(tl.int64) * L + offs_n, dck, mask=offs_n < L)

@triton.jit
def _q_old(q_ptr, k_ptr, v_ptr, pq_ptr, pk_ptr, ck_ptr, do_ptr, lse_ptr, delta_ptr,
                      dq_ptr, dpq_ptr, H, L, scale,
                      DH: tl.constexpr, MF: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
                      CAUSAL: tl.constexpr, DOT: tl.constexpr):
    "dQ and dψ_Q for BM queries of one (batch, head), looping over the keys."
    pid, bh = tl.program_id(0), tl.program_id(1)
    b = bh // H
    qkv_off = bh.to(tl.int64) * L * DH; f_off = b.to(tl.int64) * L * MF
    offs_m = pid * BM + tl.arange(0, BM); offs_d = tl.arange(0, DH); offs_f = tl.arange(0, MF)
    q, pq, do, lse, delta = _query_rows_old(q_ptr, pq_ptr, do_ptr, lse_ptr, delta_ptr, qkv_off, f_off, bh, offs_m, L, DH, MF)
    dq = tl.zeros((BM, DH), tl.float32); dpq = tl.zeros((BM, MF), tl.float32)
    hi = tl.minimum(L, (pid + 1) * BM) if CAUSAL else L
    for start in range(0, hi, BN):
        offs_n = start + tl.arange(0, BN)
        k, v, pk, ck = G._key_tile(k_ptr, v_ptr, pk_ptr, ck_ptr, qkv_off, f_off, b, offs_n, L, DH, MF)
        sq, kap = _logits(q, k, pq, pk, ck, offs_m, offs_n, L, scale, CAUSAL, DOT)
        kc = tl.maximum(kap, 1e-30)
        dp = G._dot(do, tl.trans(v), tl.zeros((BM, BN), tl.float32), DOT)
        t = tl.exp2(sq - lse[:, None]) * (dp - delta[:, None])
        dq = G._dot((t * kc).to(k.dtype), k, dq, DOT)
        r = tl.where(kap > 1e-30, t, 0.0)
        dpq = G._dot(r.to(pk.dtype), pk, dpq, DOT)
    tl.store(dq_ptr + qkv_off + offs_m[:, None] * DH + offs_d[None, :], (dq * scale).to(dq_ptr.dtype.element_ty), mask=offs_m[:, None] < L)
    tl.store(dpq_ptr + bh.to(tl.int64) * L * MF + offs_m[:, None] * MF + offs_f[None, :], dpq, mask=offs_m[:, None] < L)

# ---- two heads per program ----
@triton.jit
def _fwd_head(q, kT, v, kc, ck2, m_i, l_i, acc, offs_m, offs_n, L, qs, CAUSAL: tl.constexpr):
    s = tl.dot(q, kT) * qs + ck2[None, :]
    ok = offs_n[None, :] < L
    if CAUSAL: ok = ok & (offs_n[None, :] <= offs_m[:, None])
    s = tl.where(ok, s, -float("inf"))
    m_new = tl.maximum(m_i, tl.max(s, axis=1))
    alpha = tl.exp2(m_i - m_new)
    p = tl.exp2(s - m_new[:, None]) * kc
    l_i = l_i * alpha + tl.sum(p, axis=1)
    acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None])
    return m_new, l_i, acc

@triton.jit
def _fwd2(q_ptr, k_ptr, v_ptr, pq_ptr, pk_ptr, ck_ptr, o_ptr, lse_ptr, H, L, scale,
          DH: tl.constexpr, MF: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, CAUSAL: tl.constexpr, HP: tl.constexpr):
    pid, g = tl.program_id(0), tl.program_id(1)
    hb0 = g * HP; b = hb0 // H
    f_off = b.to(tl.int64) * L * MF
    offs_m = pid * BM + tl.arange(0, BM); offs_d = tl.arange(0, DH)
    off0 = hb0.to(tl.int64) * L * DH; off1 = off0 + L * DH
    pq = G._rows(pq_ptr, f_off, offs_m, L, MF)
    q0 = G._rows(q_ptr, off0, offs_m, L, DH)
    m0 = tl.full((BM,), -float("inf"), tl.float32); l0 = tl.zeros((BM,), tl.float32); a0 = tl.zeros((BM, DH), tl.float32)
    if HP == 2:
        q1 = G._rows(q_ptr, off1, offs_m, L, DH)
        m1 = tl.full((BM,), -float("inf"), tl.float32); l1 = tl.zeros((BM,), tl.float32); a1 = tl.zeros((BM, DH), tl.float32)
    qs = scale * 1.4426950408889634
    hi = tl.minimum(L, (pid + 1) * BM) if CAUSAL else L
    for start in range(0, hi, BN):
        offs_n = start + tl.arange(0, BN)
        pkT = G._cols(pk_ptr, f_off, offs_n, L, MF)
        ck2 = G._key_offsets(ck_ptr, b, offs_n, L) * 1.4426950408889634
        kc = tl.maximum(tl.dot(pq, pkT), 1e-30)
        kT0 = G._cols(k_ptr, off0, offs_n, L, DH); v0 = G._rows(v_ptr, off0, offs_n, L, DH)
        m0, l0, a0 = _fwd_head(q0, kT0, v0, kc, ck2, m0, l0, a0, offs_m, offs_n, L, qs, CAUSAL)
        if HP == 2:
            kT1 = G._cols(k_ptr, off1, offs_n, L, DH); v1 = G._rows(v_ptr, off1, offs_n, L, DH)
            m1, l1, a1 = _fwd_head(q1, kT1, v1, kc, ck2, m1, l1, a1, offs_m, offs_n, L, qs, CAUSAL)
    msk = offs_m[:, None] < L
    tl.store(o_ptr + off0 + offs_m[:, None] * DH + offs_d[None, :], (a0 / l0[:, None]).to(o_ptr.dtype.element_ty), mask=msk)
    tl.store(lse_ptr + hb0.to(tl.int64) * L + offs_m, m0 + tl.log2(l0), mask=offs_m < L)
    if HP == 2:
        tl.store(o_ptr + off1 + offs_m[:, None] * DH + offs_d[None, :], (a1 / l1[:, None]).to(o_ptr.dtype.element_ty), mask=msk)
        tl.store(lse_ptr + (hb0 + 1).to(tl.int64) * L + offs_m, m1 + tl.log2(l1), mask=offs_m < L)

@triton.jit
def _kv_head(k, v, q_ptr, do_ptr, lse_ptr, delta_ptr, off, hb, offs_m, offs_n, L, ks, ck2, kc, dk, dv,
             DH: tl.constexpr, CAUSAL: tl.constexpr):
    qT = G._cols(q_ptr, off, offs_m, L, DH); do = G._rows(do_ptr, off, offs_m, L, DH)
    lse, delta = G._query_stats(lse_ptr, delta_ptr, hb, offs_m, L)
    sT = tl.dot(k, qT) * ks + ck2[:, None]
    if CAUSAL: sT = tl.where(offs_n[:, None] <= offs_m[None, :], sT, -float("inf"))
    ptT = tl.exp2(sT - lse[None, :])
    dv = tl.dot((ptT * kc).to(do.dtype), do, dv)
    tT = ptT * (tl.dot(v, tl.trans(do)) - delta[None, :])
    dk = tl.dot((tT * kc).to(qT.dtype), tl.trans(qT), dk)
    return dk, dv, tT

@triton.jit
def _kv2(q_ptr, k_ptr, v_ptr, pq_ptr, pk_ptr, ck_ptr, do_ptr, lse_ptr, delta_ptr, dk_ptr, dv_ptr, dpk_ptr, dck_ptr, H, L, scale,
         DH: tl.constexpr, MF: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, CAUSAL: tl.constexpr, HP: tl.constexpr):
    pid, g = tl.program_id(0), tl.program_id(1)
    hb0 = g * HP; b = hb0 // H
    f_off = b.to(tl.int64) * L * MF
    offs_n = pid * BN + tl.arange(0, BN); offs_d = tl.arange(0, DH); offs_f = tl.arange(0, MF)
    off0 = hb0.to(tl.int64) * L * DH; off1 = off0 + L * DH
    pk = G._rows(pk_ptr, f_off, offs_n, L, MF)
    ck2 = G._key_offsets(ck_ptr, b, offs_n, L) * 1.4426950408889634
    ks = scale * 1.4426950408889634
    k0 = G._rows(k_ptr, off0, offs_n, L, DH); v0 = G._rows(v_ptr, off0, offs_n, L, DH)
    dk0 = tl.zeros((BN, DH), tl.float32); dv0 = tl.zeros((BN, DH), tl.float32)
    if HP == 2:
        k1 = G._rows(k_ptr, off1, offs_n, L, DH); v1 = G._rows(v_ptr, off1, offs_n, L, DH)
        dk1 = tl.zeros((BN, DH), tl.float32); dv1 = tl.zeros((BN, DH), tl.float32)
    dpk = tl.zeros((BN, MF), tl.float32); dck = tl.zeros((BN,), tl.float32)
    lo = (pid * BN // BM) * BM if CAUSAL else 0
    for start in range(lo, L, BM):
        offs_m = start + tl.arange(0, BM)
        pqT = G._cols(pq_ptr, f_off, offs_m, L, MF)
        kapT = tl.dot(pk, pqT); kc = tl.maximum(kapT, 1e-30)
        dk0, dv0, t = _kv_head(k0, v0, q_ptr, do_ptr, lse_ptr, delta_ptr, off0, hb0, offs_m, offs_n, L, ks, ck2, kc, dk0, dv0, DH, CAUSAL)
        if HP == 2:
            dk1, dv1, t1 = _kv_head(k1, v1, q_ptr, do_ptr, lse_ptr, delta_ptr, off1, hb0 + 1, offs_m, offs_n, L, ks, ck2, kc, dk1, dv1, DH, CAUSAL)
            t += t1
        dck += tl.sum(t * kc, axis=1)
        rT = tl.where(kapT > 1e-30, t, 0.0)
        dpk = tl.dot(rT.to(pqT.dtype), tl.trans(pqT), dpk)
    msk = offs_n[:, None] < L
    tl.store(dk_ptr + off0 + offs_n[:, None] * DH + offs_d[None, :], (dk0 * scale).to(dk_ptr.dtype.element_ty), mask=msk)
    tl.store(dv_ptr + off0 + offs_n[:, None] * DH + offs_d[None, :], dv0.to(dv_ptr.dtype.element_ty), mask=msk)
    if HP == 2:
        tl.store(dk_ptr + off1 + offs_n[:, None] * DH + offs_d[None, :], (dk1 * scale).to(dk_ptr.dtype.element_ty), mask=msk)
        tl.store(dv_ptr + off1 + offs_n[:, None] * DH + offs_d[None, :], dv1.to(dv_ptr.dtype.element_ty), mask=msk)
    tl.atomic_add(dpk_ptr + f_off + offs_n[:, None] * MF + offs_f[None, :], dpk, mask=msk, sem="relaxed")
    tl.atomic_add(dck_ptr + b.to(tl.int64) * L + offs_n, dck, mask=offs_n < L, sem="relaxed")

@triton.jit
def _q_head(q, do, lse, delta, k_ptr, v_ptr, off, offs_m, offs_n, L, qs, ck2, kc, dq, DH: tl.constexpr, CAUSAL: tl.constexpr):
    kT = G._cols(k_ptr, off, offs_n, L, DH); vT = G._cols(v_ptr, off, offs_n, L, DH)
    s = tl.dot(q, kT) * qs + ck2[None, :]
    ok = offs_n[None, :] < L
    if CAUSAL: ok = ok & (offs_n[None, :] <= offs_m[:, None])
    s = tl.where(ok, s, -float("inf"))
    t = tl.exp2(s - lse[:, None]) * (tl.dot(do, vT) - delta[:, None])
    dq = tl.dot((t * kc).to(q.dtype), tl.trans(kT), dq)
    return dq, t

@triton.jit
def _q2(q_ptr, k_ptr, v_ptr, pq_ptr, pk_ptr, ck_ptr, do_ptr, lse_ptr, delta_ptr, dq_ptr, dpq_ptr, H, L, scale,
        DH: tl.constexpr, MF: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, CAUSAL: tl.constexpr, HP: tl.constexpr):
    pid, g = tl.program_id(0), tl.program_id(1)
    hb0 = g * HP; b = hb0 // H
    f_off = b.to(tl.int64) * L * MF
    offs_m = pid * BM + tl.arange(0, BM); offs_d = tl.arange(0, DH); offs_f = tl.arange(0, MF)
    off0 = hb0.to(tl.int64) * L * DH; off1 = off0 + L * DH
    pq = G._rows(pq_ptr, f_off, offs_m, L, MF)
    qs = scale * 1.4426950408889634
    q0 = G._rows(q_ptr, off0, offs_m, L, DH); do0 = G._rows(do_ptr, off0, offs_m, L, DH)
    lse0, de0 = G._query_stats(lse_ptr, delta_ptr, hb0, offs_m, L)
    dq0 = tl.zeros((BM, DH), tl.float32)
    if HP == 2:
        q1 = G._rows(q_ptr, off1, offs_m, L, DH); do1 = G._rows(do_ptr, off1, offs_m, L, DH)
        lse1, de1 = G._query_stats(lse_ptr, delta_ptr, hb0 + 1, offs_m, L)
        dq1 = tl.zeros((BM, DH), tl.float32)
    dpq = tl.zeros((BM, MF), tl.float32)
    hi = tl.minimum(L, (pid + 1) * BM) if CAUSAL else L
    for start in range(0, hi, BN):
        offs_n = start + tl.arange(0, BN)
        pkT = G._cols(pk_ptr, f_off, offs_n, L, MF)
        ck2 = G._key_offsets(ck_ptr, b, offs_n, L) * 1.4426950408889634
        kap = tl.dot(pq, pkT); kc = tl.maximum(kap, 1e-30)
        dq0, t = _q_head(q0, do0, lse0, de0, k_ptr, v_ptr, off0, offs_m, offs_n, L, qs, ck2, kc, dq0, DH, CAUSAL)
        if HP == 2:
            dq1, t1 = _q_head(q1, do1, lse1, de1, k_ptr, v_ptr, off1, offs_m, offs_n, L, qs, ck2, kc, dq1, DH, CAUSAL)
            t += t1
        r = tl.where(kap > 1e-30, t, 0.0)
        dpq = tl.dot(r.to(pq.dtype), tl.trans(pkT), dpq)
    msk = offs_m[:, None] < L
    tl.store(dq_ptr + off0 + offs_m[:, None] * DH + offs_d[None, :], (dq0 * scale).to(dq_ptr.dtype.element_ty), mask=msk)
    if HP == 2:
        tl.store(dq_ptr + off1 + offs_m[:, None] * DH + offs_d[None, :], (dq1 * scale).to(dq_ptr.dtype.element_ty), mask=msk)
    tl.atomic_add(dpq_ptr + f_off + offs_m[:, None] * MF + offs_f[None, :], dpq, mask=msk, sem="relaxed")


KEY = ["L", "DH", "MF", "CAUSAL"]
kv_old_t = triton.autotune(G._configs([(64, 64, 4, 2), (32, 128, 4, 3), (64, 128, 8, 2), (64, 64, 8, 3), (32, 64, 4, 3)]), key=KEY)(_kv_old)
q_old_t = triton.autotune(G._configs([(64, 64, 4, 2), (128, 32, 4, 3), (128, 64, 8, 2), (64, 64, 8, 3), (64, 32, 4, 3)]), key=KEY)(_q_old)
KEY2 = KEY + ["HP"]
fwd2_t = triton.autotune(G._configs([(128, 64, 4, 3), (128, 64, 8, 3), (128, 128, 8, 3), (64, 64, 4, 3), (64, 128, 4, 2)]), key=KEY2)(_fwd2)
kv2_t = triton.autotune(G._configs([(32, 128, 4, 3), (32, 64, 4, 4), (64, 64, 4, 3), (32, 128, 8, 4), (64, 64, 8, 3), (32, 64, 4, 3)]), key=KEY2, reset_to_zero=["dpk_ptr", "dck_ptr"])(_kv2)
q2_t = triton.autotune(G._configs([(128, 32, 4, 5), (64, 64, 4, 3), (128, 64, 8, 3), (128, 32, 8, 4), (64, 64, 8, 3)]), key=KEY2, reset_to_zero=["dpq_ptr"])(_q2)

def launch(kernel, tile, grid_of, *args, **kw):
    "An autotuned kernel on CUDA; under the interpreter the plain kernel with 16-wide tiles."
    if tile: kernel.fn[(grid_of(tile, tile))](*args, BM=tile, BN=tile, **kw)
    else: kernel[lambda m: grid_of(m["BM"], m["BN"])](*args, **kw)

def forward(q, k, v, pq, ck, causal, tile=None):
    B, H, L, DH = q.shape; MF = pq.shape[-1]
    o = torch.empty_like(q); lse = torch.empty(B, H, L, device=q.device)
    launch(G._fwd_tuned, tile, lambda bm, bn: (triton.cdiv(L, bm), B * H), q, k, v, pq, pq, ck, o, lse, H, L, 1 / math.sqrt(DH),
           DH=DH, MF=MF, CAUSAL=causal, MASK=G._needs_mask(L, causal), DOT=0 if tile else 1)
    return o, lse

def bwd_untransposed(q, k, v, pq, ck, o, lse, do, causal, tile=None):
    B, H, L, DH = q.shape; MF = pq.shape[-1]; scale = 1 / math.sqrt(DH)
    delta = (do.float() * o.float()).sum(-1)
    args = (q, k, v, pq, pq, ck, do, lse, delta); kw = dict(DH=DH, MF=MF, CAUSAL=causal, DOT=0 if tile else 1)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    dpq = torch.empty(B, H, L, MF, device=q.device); dpk = torch.empty_like(dpq); dck = torch.empty(B, H, L, device=q.device)
    launch(kv_old_t, tile, lambda bm, bn: (triton.cdiv(L, bn), B * H), *args, dk, dv, dpk, dck, H, L, scale, **kw)
    launch(q_old_t, tile, lambda bm, bn: (triton.cdiv(L, bm), B * H), *args, dq, dpq, H, L, scale, **kw)
    return dq, dk, dv, dpq.sum(1) + dpk.sum(1), dck.sum(1)  # one ψ for queries and keys

def bwd_package(q, k, v, pq, ck, o, lse, do, causal, tile=None):
    "The package's backward kernels (query side first: it writes δ), with dc_K (NEED_DC) so every variant returns the same."
    B, H, L, DH = q.shape; MF = pq.shape[-1]; scale = 1 / math.sqrt(DH)
    delta = torch.empty(B, H, L, device=q.device)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v); dpq, dpk, dck = G._feature_grads(B, L, MF, q.device)
    args = (q, k, v, pq, pq, ck, do, lse, delta)
    kw = dict(DH=DH, MF=MF, CAUSAL=causal, MASK=G._needs_mask(L, causal), DOT=0 if tile else 1)
    launch(G._bwd_q_tuned, tile, lambda bm, bn: (triton.cdiv(L, bm), B * H), *args, dq, dpq, o, H, L, scale, **kw)
    launch(G._bwd_kv_tuned, tile, lambda bm, bn: (triton.cdiv(L, bn), B * H), *args, dk, dv, dpk, dck, H, L, scale, NEED_DC=True, **kw)
    return dq, dk, dv, dpq + dpk, dck

def two_heads(q, k, v, pq, ck, do, causal, tile=None):
    "Forward and backward with two heads per program."
    B, H, L, DH = q.shape; MF = pq.shape[-1]; scale = 1 / math.sqrt(DH)
    o = torch.empty_like(q); lse = torch.empty(B, H, L, device=q.device)
    kw = dict(DH=DH, MF=MF, CAUSAL=causal, HP=2)
    launch(fwd2_t, tile, lambda bm, bn: (triton.cdiv(L, bm), B * H // 2), q, k, v, pq, pq, ck, o, lse, H, L, scale, **kw)
    if do is None: return o
    delta = (do.float() * o.float()).sum(-1)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v); dpq, dpk, dck = G._feature_grads(B, L, MF, q.device)
    args = (q, k, v, pq, pq, ck, do, lse, delta)
    launch(kv2_t, tile, lambda bm, bn: (triton.cdiv(L, bn), B * H // 2), *args, dk, dv, dpk, dck, H, L, scale, **kw)
    launch(q2_t, tile, lambda bm, bn: (triton.cdiv(L, bm), B * H // 2), *args, dq, dpq, H, L, scale, **kw)
    return o, (dq, dk, dv, dpq + dpk, dck)

def inputs(B, H, L, DH, MF, dev, dtype):
    g = torch.Generator(device=dev).manual_seed(2)
    q, k, v, do = (torch.randn(B, H, L, DH, device=dev, dtype=dtype, generator=g) for _ in range(4))
    theta = 0.3 * torch.randn(B, L, 16, device=dev, generator=g)
    metric = torch.ones(16, device=dev); omega = G.draw_omega(metric, MF, torch.Generator().manual_seed(0))
    psi, c = G.gak_features(theta, omega, metric)
    return q, k, v, psi.to(dtype).contiguous(), c.float().contiguous(), do

def rel(a, b): return ((a.float() - b.float()).abs().max() / b.float().abs().max()).item()

def check():
    "Every variant against autograd through `gak_attention_ref` (float32, L = 37, interpreter tiles of 16)."
    for causal in (False, True):
        q, k, v, psi, c, do = inputs(2, 2, 37, 16, 16, "cpu", torch.float32)
        ins = [t.clone().requires_grad_() for t in (q, k, v, psi, c)]
        ref_o = G.gak_attention_ref(ins[0], ins[1], ins[2], ins[3], ins[3], ins[4], causal)
        ref = torch.autograd.grad(ref_o, ins, do)
        o, lse = forward(q, k, v, psi, c, causal, tile=16)
        assert rel(o, ref_o) < 1e-4
        for name, out in (("untransposed", bwd_untransposed(q, k, v, psi, c, o, lse, do, causal, 16)),
                          ("package", bwd_package(q, k, v, psi, c, o, lse, do, causal, 16))) + (("two_heads", two_heads(q, k, v, psi, c, do, causal, 16)[1]),):
            errs = [rel(a, b) for a, b in zip(out, ref)]
            print(name, "causal" if causal else "full", [f"{e:.1e}" for e in errs]); assert max(errs) < 1e-3, name

def sweep(q, k, v, psi, c, do, only=("fwd", "kv", "q")):
    B, H, L, DH = q.shape; MF = psi.shape[-1]; scale = 1 / math.sqrt(DH); res = {}
    o, lse = forward(q, k, v, psi, c, False)
    kw = dict(DH=DH, MF=MF, CAUSAL=False, MASK=G._needs_mask(L, False), DOT=1)
    delta = (do.float() * o.float()).sum(-1); dpq, dpk, dck = G._feature_grads(B, L, MF, q.device, shared=True, need_dc=False)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v); args = (q, k, v, psi, psi, c, do, lse, delta)
    spaces = {"fwd": (G._gak_fwd_kernel, (64, 128), (32, 64, 128), lambda bm, bn: (triton.cdiv(L, bm), B * H), (q, k, v, psi, psi, c, o, lse, H, L, scale), {}),
              "kv": (G._gak_bwd_kv_kernel, (16, 32, 64), (64, 128), lambda bm, bn: (triton.cdiv(L, bn), B * H), (*args, dk, dv, dpk, dck, H, L, scale), {"NEED_DC": False}),
              "q": (G._gak_bwd_q_kernel, (64, 128), (16, 32, 64), lambda bm, bn: (triton.cdiv(L, bm), B * H), (*args, dq, dpq, o, H, L, scale), {})}
    for name, (kern, bms, bns, grid, a, extra) in ((n, sp) for n, sp in spaces.items() if n in only):
        for bm, bn, w, s in itertools.product(bms, bns, (4, 8), (2, 3, 4, 5)):
            try: res[f"{name} BM{bm} BN{bn} w{w} s{s}"] = round(timeit(lambda: kern[grid(bm, bn)](*a, BM=bm, BN=bn, num_warps=w, num_stages=s, **kw, **extra)), 3)
            except Exception as e: res[f"{name} BM{bm} BN{bn} w{w} s{s}"] = type(e).__name__  # e.g. out of shared memory
        best = sorted((t, k_) for k_, t in res.items() if k_.startswith(name + " ") and isinstance(t, float))[:3]
        print(name, best, flush=True); res[f"best_{name}"] = best
    return res

def main():
    ap = argparse.ArgumentParser(description="GAK backward designs vs SDPA"); ap.add_argument("--out"); ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--sweep-only", default="fwd,kv,q", help="kernels to sweep"); ap.add_argument("--no-variants", action="store_true", help="only the sweep")
    ap.add_argument("--check", action="store_true"); ap.add_argument("--quick", action="store_true", help="without a GPU: --check")
    a = ap.parse_args()
    if a.check or (a.quick and not torch.cuda.is_available()): return check()
    q, k, v, psi, c, do = inputs(8, 8, 4096, 64, 64, "cuda", torch.bfloat16)
    qq, kk, vv = (t.clone().requires_grad_() for t in (q, k, v))
    def sdpa():
        o = torch.nn.functional.scaled_dot_product_attention(qq, kk, vv); torch.autograd.grad(o, (qq, kk, vv), do)
    res = {"shape": dict(B=8, H=8, L=4096, Dh=64, m=64, dtype="bfloat16"), "sdpa_fwdbwd_ms": timeit(sdpa)}
    for causal in (() if a.no_variants else (False, True)):
        cz = f"c{int(causal)}"
        o, lse = forward(q, k, v, psi, c, causal)
        res[f"package_{cz}_fwd_ms"] = timeit(lambda: forward(q, k, v, psi, c, causal))
        ref = bwd_package(q, k, v, psi, c, o, lse, do, causal)
        for name, fn in (("untransposed", lambda: bwd_untransposed(q, k, v, psi, c, o, lse, do, causal)), ("package", lambda: bwd_package(q, k, v, psi, c, o, lse, do, causal))):
            res[f"{name}_{cz}_maxrel_vs_package"] = max(rel(x, y) for x, y in zip(fn(), ref))
            res[f"{name}_{cz}_bwd_ms"] = timeit(fn)
        o2, g2 = two_heads(q, k, v, psi, c, do, causal)
        res[f"two_heads_{cz}_maxrel_vs_package"] = max(rel(x, y) for x, y in zip((o2, *g2), (o, *ref)))
        res[f"two_heads_{cz}_fwd_ms"] = timeit(lambda: two_heads(q, k, v, psi, c, None, causal))
        res[f"two_heads_{cz}_fwdbwd_ms"] = timeit(lambda: two_heads(q, k, v, psi, c, do, causal))
        print({k_: v_ for k_, v_ in res.items() if cz in k_}, flush=True)
    if a.sweep: res["sweep"] = sweep(q, k, v, psi, c, do, a.sweep_only.split(","))
    res.update(gpu=torch.cuda.get_device_name(), torch=torch.__version__, triton=triton.__version__)
    if a.out: open(a.out, "w").write(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res))

if __name__ == "__main__":
    main()
