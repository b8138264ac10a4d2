"""How much of one GAK benchmark call is host latency before the first attention kernel, and what a leaner forward saves
(H100; the bench/kernels.py gak shape):

    python bench/gak/host_path.py [--out bench/results/gak/host_path-cuda.json]

Each call starts from an idle GPU (synchronized before it), as in `bench/kernels.py`. For the forward alone, `end_ms` is
the CUDA-event time from before the call to after it, `host_us` the host time to issue it; `lean` issues the same two
kernels straight through their compiled launchers with no checks, `sdpa` is PyTorch's SDPA. `phases` gives, per fwd+bwd call,
when the GPU finished the forward and the whole call and the host time of each half. fwd+bwd medians of `ours`, `lean` and `sdpa` come last. Last stdout line: JSON.
"""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: _cuda_timing, _gak_inputs
import argparse, json, math, time
import torch
from _cuda_timing import cuda_median_ms
from _gak_inputs import SHAPE, gak_inputs
from neuralblitz_lab.kernels import gak as G
ap = argparse.ArgumentParser(); ap.add_argument("--quick", action="store_true", help="(make bench)"); ap.add_argument("--out")
out = ap.parse_args().out
if not torch.cuda.is_available(): raise SystemExit("bench/gak/host_path.py measures CUDA host latency: run it on a GPU machine")
B, H, L, DH, MF, P = SHAPE.values()
g = torch.Generator(device="cuda").manual_seed(2)
q, k, v, theta, metric, omega, do = gak_inputs(g, **SHAPE)
sdpa = torch.nn.functional.scaled_dot_product_attention
def ours(): return G.gak_self_attention(q, k, v, theta, omega, metric, backend="triton")
for _ in range(3): torch.autograd.grad(ours(), (q, k, v, theta), do)
torch.cuda.synchronize()

def compiled(kernel):
    (key, ck), = [(key, ck) for key, ck in G._COMPILED.items() if key[0] is kernel]
    consts = dict(key[2]); return ck, consts, tuple(consts[n] for n in kernel.arg_names[len(key[1]):])
ckf, _, tf = compiled(G._features_fwd_kernel); cka, ca, ta = compiled(G._gak_fwd_kernel)
runf, runa = ckf[(triton_cdiv := (B * L + 63) // 64, 1, 1)], cka[((L + ca["BM"] - 1) // ca["BM"], B * H, 1)]
hlm, scale, dev = 0.5 * math.log(MF), 1 / math.sqrt(DH), q.device
def lean():
    N = B * L
    psi = torch.empty(N, MF, device=dev, dtype=q.dtype); c = torch.empty(B, L, device=dev)
    runf(theta, omega, metric, psi, c, N, P, hlm, *tf)
    o = torch.empty_like(q); lse = torch.empty(B, H, L, device=dev, dtype=torch.float32)
    runa(q, k, v, psi, psi, c, o, lse, H, L, scale, *ta)
    return o, psi, c, lse
class LeanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, theta):
        o, psi, c, lse = lean(); ctx.save_for_backward(q, k, v, psi, c, o, lse); return o
    @staticmethod
    def backward(ctx, do_):
        q_, k_, v_, psi, c, o, lse = ctx.saved_tensors
        dq, dk, dv, dpsi, _, _ = G._attention_bwd(q_, k_, v_, psi.view(B, L, -1), psi.view(B, L, -1), c, o, lse, do_, (L, DH, MF, False, q.dtype), False, True, False)
        return dq, dk, dv, G._features_bwd(theta.detach().view(-1, P), omega, metric, psi, dpsi).view(B, L, P)

def fwd_from_idle(fn, reps=30):
    ends, hosts = [], []
    for _ in range(5): fn()
    for _ in range(reps):
        torch.cuda.synchronize(); a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); t = time.perf_counter(); fn(); hosts.append(time.perf_counter() - t); b.record(); torch.cuda.synchronize()
        ends.append(a.elapsed_time(b))
    med = lambda xs: sorted(xs)[len(xs) // 2]
    return {"end_ms": round(med(ends), 4), "host_us": round(med(hosts) * 1e6, 1)}
res = {"fwd": {}}
for name, fn in (("empty", lambda: None), ("ours", ours), ("lean", lean), ("lean_fn", lambda: LeanFn.apply(q, k, v, theta)), ("sdpa", lambda: sdpa(q, k, v))):
    res["fwd"][name] = fwd_from_idle(fn); print(name, res["fwd"][name], flush=True)
# where a fwd+bwd call's time goes without host stamps: CUDA events after the forward and after the backward only
cka_q, cq, tq = compiled(G._gak_bwd_q_kernel); cka_kv, ckv, tkv = compiled(G._gak_bwd_kv_kernel); ckfb, _, tfb = compiled(G._features_bwd_kernel)
runq = cka_q[((L + cq["BM"] - 1) // cq["BM"], B * H, 1)]; runkv = cka_kv[((L + ckv["BN"] - 1) // ckv["BN"], B * H, 1)]; runfb = ckfb[((B * L + 63) // 64, 1, 1)]
class LeanFn2(LeanFn):
    @staticmethod
    def backward(ctx, do_):
        q_, k_, v_, psi, c, o, lse = ctx.saved_tensors
        dq, dk, dv = torch.empty_like(q_), torch.empty_like(k_), torch.empty_like(v_)
        delta = torch.empty(B, H, L, device=dev, dtype=torch.float32); dpsi = torch.zeros(B, L, MF, device=dev)
        args = (q_, k_, v_, psi, psi, c, do_, lse, delta)
        runq(*args, dq, dpsi, o, H, L, scale, *tq); runkv(*args, dk, dv, dpsi, dpsi, H, L, scale, *tkv)
        dth = torch.empty(B * L, P, device=dev)
        runfb(theta.detach().view(-1, P), omega, metric, psi, dpsi.view(B * L, MF), dth, B * L, P, *tfb)
        return dq, dk, dv, dth.view(B, L, P)
def phases(fn, reps=40):
    rows = []
    for i in range(reps + 5):
        torch.cuda.synchronize(); ev = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
        ev[0].record(); t0 = time.perf_counter(); o = fn(); t1 = time.perf_counter(); ev[1].record()
        torch.autograd.grad(o, (q, k, v, theta), do); t2 = time.perf_counter(); ev[2].record(); torch.cuda.synchronize()
        if i >= 5: rows.append((ev[0].elapsed_time(ev[1]), ev[0].elapsed_time(ev[2]), (t1 - t0) * 1e6, (t2 - t1) * 1e6))
    return [round(sorted(r[j] for r in rows)[len(rows) // 2], 4) for j in range(4)]
res["phases_fwd_end_ms_total_ms_host_fwd_us_host_bwd_us"] = {}
for rnd in range(2):
    for name, fn in (("ours", ours), ("lean_fn", lambda: LeanFn.apply(q, k, v, theta)), ("lean_fn2", lambda: LeanFn2.apply(q, k, v, theta))):
        r = phases(fn); res["phases_fwd_end_ms_total_ms_host_fwd_us_host_bwd_us"][f"{name}_{rnd}"] = r; print(name, r, flush=True)
g2 = torch.autograd.grad(LeanFn2.apply(q, k, v, theta), (q, k, v, theta), do); g1 = torch.autograd.grad(ours(), (q, k, v, theta), do)
res["lean2_vs_ours_grad_max_abs"] = max((a.float() - b.float()).abs().max().item() for a, b in zip(g1, g2)); print("grad diff", res["lean2_vs_ours_grad_max_abs"])
# the planned forward and backward (a later call) against the full path (first call with a signature): same output and gradients
o_plan = ours(); g_plan = torch.autograd.grad(o_plan, (q, k, v, theta), do); n_plans = (len(G._PLANS), len(G._BWD_PLANS)); G._PLANS.clear(); G._BWD_PLANS.clear()
o_full = ours(); g_full = torch.autograd.grad(o_full, (q, k, v, theta), do)
res["plans"] = n_plans; res["planned_vs_full_out_max_abs"] = (o_plan.float() - o_full.float()).abs().max().item()
res["planned_vs_full_grad_max_rel"] = max(((a.float() - b.float()).abs().max() / b.float().abs().max()).item() for a, b in zip(g_plan, g_full))
print("plans", n_plans, res["planned_vs_full_out_max_abs"], res["planned_vs_full_grad_max_rel"], flush=True)
# kernel times (profiler) to turn end_ms into latency
from torch.profiler import profile, ProfilerActivity
def kernel_ms(fn):
    with profile(activities=[ProfilerActivity.CUDA]) as prof: fn(); torch.cuda.synchronize()
    return round(sum((e.time_range.end - e.time_range.start) / 1e3 for e in prof.events() if e.device_type.name == "CUDA"), 4)
res["fwd_kernel_ms"] = {"ours": kernel_ms(ours), "sdpa": kernel_ms(lambda: sdpa(q, k, v))}
# kernel time inside synchronized fwd+bwd calls (profiled, 10 calls) against their CUDA-event time: the gap is what is not kernels
def kernels_in_calls(fn, n=10):
    ends = []
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(n):
            torch.cuda.synchronize(); a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record(); fn(); b.record(); torch.cuda.synchronize(); ends.append(a.elapsed_time(b))
    per = {}
    for e in prof.events():
        if e.device_type.name == "CUDA": per[e.name[:24]] = per.get(e.name[:24], 0) + (e.time_range.end - e.time_range.start) / 1e3 / n
    return {"event_ms_median": round(sorted(ends)[n // 2], 4), "kernel_ms_per_call": round(sum(per.values()), 4), "kernels": {k: round(v, 4) for k, v in per.items()}}
for name, fn in (("ours", lambda: torch.autograd.grad(ours(), (q, k, v, theta), do)), ("sdpa", lambda: torch.autograd.grad(sdpa(q, k, v), (q, k, v), do))):
    res[f"in_call_{name}"] = kernels_in_calls(fn); print(name, res[f"in_call_{name}"], flush=True)
res["fwd_bwd_ms"] = {}
for name, fn in (("ours", lambda: torch.autograd.grad(ours(), (q, k, v, theta), do)),
                 ("lean_fn", lambda: torch.autograd.grad(LeanFn.apply(q, k, v, theta), (q, k, v, theta), do)),
                 ("sdpa", lambda: torch.autograd.grad(sdpa(q, k, v), (q, k, v), do))):
    res["fwd_bwd_ms"][name] = [round(cuda_median_ms(fn, 10, 3), 4) for _ in range(3)]; print(name, res["fwd_bwd_ms"][name], flush=True)
o1 = LeanFn.apply(q, k, v, theta); o2 = ours(); res["lean_vs_ours_max_abs"] = (o1.float() - o2.float()).abs().max().item()
res.update(gpu=torch.cuda.get_device_name(), torch=torch.__version__)
import triton; res["triton"] = triton.__version__
if out: open(out, "w").write(json.dumps(res, indent=1))
print(json.dumps(res))
