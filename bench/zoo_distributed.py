"""Distributed zoo build scaling: the same profile built by a torchrun job of 1 rank and of N ranks, on the same machine.

    python bench/zoo_distributed.py [--profile seed] [--device cuda] [--nproc 2] [--group-size G] [--workdir DIR]
    python bench/zoo_distributed.py --quick        # smoke test: the tiny profile on 2 CPU (gloo) ranks, not saved

Both builds run the real command, `python -m torch.distributed.run --standalone --nproc_per_node=K -m neuralblitz_lab.cli
zoo build --profile P --out DIR --device D`, into fresh folders (each CPU rank single-threaded, the 1-rank run too).
`train_s` is the manifest's `train_seconds` (rank 0, from the first group to the finished manifest: training, waiting for
the other ranks, merging); `wall_s` adds process start-up, data loading and torchrun's rendezvous.
`speedup` = train_s(1 rank) / train_s(N ranks) (the issue's goal: >= 1.8 for 2 GPUs on the `seed` profile);
`speedup_wall` is the same on wall time. The two zoos are compared: same shards
and checkpoints, and the largest weight difference (bf16 autocast and cuDNN's autotuned algorithms may differ per process,
so a few ulps are expected on CUDA; with early stopping a model may then stop an epoch apart, `same_index` says).
The JSON summary is the last stdout line and is saved under bench/results/ (or --json PATH).
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from neuralblitz_lab.core import git_commit

ROOT = Path(__file__).resolve().parents[1]


def device_name(device: str, n: int) -> str:
    if device.startswith("cuda"): return f"{n} x {torch.cuda.get_device_name(0)}"
    return f"cpu ({os.cpu_count()} cores), {n} gloo rank(s)"


def build(out: Path, nproc: int, a) -> dict:
    "Run the torchrun build of `nproc` ranks into `out`; return its wall time and manifest numbers."
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "neuralblitz_lab.cli",
           "zoo", "build", "--profile", a.profile, "--out", str(out), "--device", a.device, "--no-progress"]
    if a.group_size: cmd += ["--group-size", str(a.group_size)]
    print("running: torchrun " + " ".join(cmd[3:]), file=sys.stderr, flush=True)
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1"} if a.device == "cpu" else None  # as torchrun gives each of several CPU ranks
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)
    wall = time.perf_counter() - start
    if r.returncode != 0: sys.exit(f"the {nproc}-rank build failed (exit {r.returncode}); its log is above")
    m = json.loads((out / "manifest.json").read_text())
    return {"wall_s": round(wall, 1), "train_s": m["train_seconds"], "n_models": m["n_models"], "n_checkpoints": m["n_checkpoints"],
            "shards": len(m["shards"]), "group_size": m["config"]["group_size"], "world_size": m["world_size"]}


def compare(a: Path, b: Path) -> dict:
    "Shards, checkpoint rows and weights of two zoos of the same profile."
    from neuralblitz_lab.zoo.store import Zoo
    za, zb = Zoo(a, verify=False), Zoo(b, verify=False)
    cols = ["model_id", "bin", "epoch"]
    same_index = za.manifest["shards"] == zb.manifest["shards"] and za.index[cols].equals(zb.index[cols])
    diff = None
    if same_index:  # stream both zoos in chunks of the same rows
        diff = max((wa - wb).abs().max().item() for (_, wa), (_, wb) in zip(za.iter_weights(4096), zb.iter_weights(4096)))
    return {"same_index": bool(same_index), "max_abs_weight_diff": diff}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="seed"); p.add_argument("--device", default="cuda")
    p.add_argument("--nproc", type=int, default=2, help="ranks of the scaled run, at least 2 (default 2)")
    p.add_argument("--group-size", type=int, default=None, help="models per group (default: the build's, 1024 on cuda)")
    p.add_argument("--workdir", type=Path, default=None, help="where the two zoos go (default: a temporary folder, deleted)")
    p.add_argument("--json", type=Path, default=None, help="result file (default: bench/results/zoo_distributed_<profile>_<device>_x<N>.json)")
    p.add_argument("--quick", action="store_true", help="the tiny profile on CPU (gloo): a smoke test of the script")
    a = p.parse_args(argv)
    if a.quick: a.profile, a.device = "tiny", "cpu"
    if a.nproc < 2:  # a 1-rank "scaled" run would compare the baseline with itself
        sys.exit(f"--nproc={a.nproc}: the scaled run needs at least 2 ranks (the baseline is always 1 rank)")
    if a.device.startswith("cuda") and torch.cuda.device_count() < a.nproc:
        sys.exit(f"--nproc={a.nproc} needs {a.nproc} GPUs; this machine has {torch.cuda.device_count()}")
    work = a.workdir or Path(tempfile.mkdtemp(prefix="nblab-zoo-dist-"))
    runs = {}
    for n in (1, a.nproc):
        out = work / f"ranks{n}"; shutil.rmtree(out, ignore_errors=True)
        runs[n] = build(out, n, a)
    one, many = runs[1], runs[a.nproc]
    res = {"what": f"{a.profile} zoo built by torchrun with 1 and {a.nproc} ranks on one machine", "profile": a.profile,
           "device": device_name(a.device, a.nproc), "nproc": a.nproc, "runs": {str(k): v for k, v in runs.items()},
           "speedup": round(one["train_s"] / many["train_s"], 3), "speedup_wall": round(one["wall_s"] / many["wall_s"], 3),
           "goal_speedup": 0.9 * a.nproc, **compare(work / "ranks1", work / f"ranks{a.nproc}"),
           "load_avg_1m": round(os.getloadavg()[0], 2), "torch": torch.__version__, "python": platform.python_version(),
           "commit": git_commit(), "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    res["meets_goal"] = res["speedup"] >= res["goal_speedup"]
    if a.workdir is None: shutil.rmtree(work, ignore_errors=True)
    dev = "cuda" if a.device.startswith("cuda") else "cpu"
    path = a.json or (None if a.quick else ROOT / "bench" / "results" / f"zoo_distributed_{a.profile}_{dev}_x{a.nproc}.json")
    if path is not None:  # a --quick smoke test is not a result worth keeping
        path.parent.mkdir(parents=True, exist_ok=True); path.write_text(json.dumps(res, indent=1) + "\n")
        print(f"saved {path}", file=sys.stderr)
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
