"""Each GAK kernel's tile candidates timed inside the benchmark's whole call (H100; the bench/kernels.py gak shape):

    python bench/gak/tiles_in_situ.py [--extra] [--rounds 3]

The autotuner times candidates kernel by kernel, back to back; close candidates then swap places from process to process.
Here each candidate of one kernel (the others at their picked tiles) is set as the pick and the whole fwd+bwd call of
`bench/kernels.py` (`gak_self_attention`, synchronized per call) is timed: medians of 20 calls, in `--rounds` interleaved
rounds; `--extra` adds candidates outside the autotune lists (EXTRA). Last stdout line: JSON {kernel: {config: [ms per round]}, picked: ...}.
"""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: _cuda_timing, _gak_inputs
import argparse, json
import torch
from _cuda_timing import cuda_median_ms
from _gak_inputs import SHAPE, gak_inputs
from neuralblitz_lab.kernels import gak as G
import triton
EXTRA = {"fwd": [(64, 128, 4, 3), (64, 256, 4, 2), (128, 128, 8, 2), (64, 128, 8, 2), (32, 128, 4, 2)],
         "bwd_q": [(64, 64, 4, 2), (64, 128, 4, 2), (64, 64, 8, 3), (128, 64, 8, 2)],
         "bwd_kv": [(64, 64, 4, 2), (64, 32, 4, 3), (64, 64, 8, 3), (64, 128, 8, 2), (128, 64, 8, 3)]}  # (BM, BN, warps, stages)
ap = argparse.ArgumentParser(); ap.add_argument("--rounds", type=int, default=3); ap.add_argument("--quick", action="store_true", help="(make bench)")
ap.add_argument("--extra", action="store_true", help="also time the EXTRA candidates (not in the autotune lists)")
a = ap.parse_args()
if not torch.cuda.is_available(): raise SystemExit("bench/gak/tiles_in_situ.py times CUDA kernels: run it on a GPU machine")
B, H, L, DH, MF, P = SHAPE.values()
g = torch.Generator(device="cuda").manual_seed(2)
q, k, v, theta, metric, omega, do = gak_inputs(g, **SHAPE)
def call(): torch.autograd.grad(G.gak_self_attention(q, k, v, theta, omega, metric, backend="triton"), (q, k, v, theta), do)
for _ in range(3): call()
key = (L, DH, MF, False, q.dtype)
tuners = {"fwd": G._fwd_tuned, "bwd_q": G._bwd_q_tuned, "bwd_kv": G._bwd_kv_tuned}
picked = {n: G._BEST[(t, key)] for n, t in tuners.items()}
res = {"picked": {n: str(c) for n, c in picked.items()}, "ms": {}}
for name, tuner in tuners.items():
    cands = list(tuner.configs) + ([triton.Config({"BM": bm, "BN": bn}, num_warps=w, num_stages=st) for bm, bn, w, st in EXTRA[name]] if a.extra else [])
    times = {str(c): [] for c in cands}
    for _ in range(a.rounds):
        for cfg in cands:
            G._BEST[(tuner, key)] = cfg; G._PLANS.clear()
            times[str(cfg)].append(round(cuda_median_ms(call, 20, 3), 4))
    G._BEST[(tuner, key)] = picked[name]; G._PLANS.clear()
    res["ms"][name] = times
    for c, t in times.items(): print(name, c, t, flush=True)
res.update(gpu=torch.cuda.get_device_name(), torch=torch.__version__)
print(json.dumps(res))
