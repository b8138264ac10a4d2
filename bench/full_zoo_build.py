"""The whole `full` zoo (1,013 experiences x 6 activations x 6 inits = 36,468 models) built for real, end to end, timed.

    python bench/full_zoo_build.py [--device cuda] [--out /tmp/full_zoo] [--phases] [--prefix graphs|eager|off]
                                   [--previous bench/results/full_zoo_build_h100.json] [--json PATH] [--quick]

Runs `train.build_zoo(out, "full")` exactly as `nblab zoo build --profile full` does (training, checkpoint metrics,
shard writes with checksums, index, scenarios, manifest) into a fresh folder, and reports the wall time, what the manifest
records, and per (activation, init) slice the models, checkpoints, mean final epoch, median final test accuracy and the
share of models that learned (final test accuracy > chance + 20 points). `--previous` names an earlier result: its
numbers are kept under `previous` and each slice's median accuracy is compared with it. `--phases` times the build's
phases (each synchronized; the trainer synchronizes there anyway) and the GPU time of every training step by row count:
the time budget. `--prefix` picks the CUDA epoch loop (sorted prefixes in CUDA graphs; eager; or the measured step loop, `off`, the
default until the prefix loop has been timed on a GPU). `--quick`: the `tiny` profile (a smoke test). The last stdout line is the JSON summary.
"""
import argparse
import json
import shutil
import time
from pathlib import Path

import pandas as pd
import torch

from neuralblitz_lab.core import git_commit
from neuralblitz_lab.zoo import train as T


def _sync():
    if torch.cuda.is_available(): torch.cuda.synchronize()


def install_phase_timers():
    "Wrap the trainer's phases with synchronized timers; return (seconds, calls, per-row-count step events, undo)."
    acc, cnt, steps, undo = {}, {}, {}, []
    def timed(owner, name, sync=True):
        f = getattr(owner, name)
        def w(*a, **k):
            if sync: _sync()
            t = time.perf_counter()
            try: return f(*a, **k)
            finally:
                if sync: _sync()
                acc[name] = acc.get(name, 0.0) + time.perf_counter() - t; cnt[name] = cnt.get(name, 0) + 1
        setattr(owner, name, w); undo.append((owner, name, f))
    for n in ("train_stacked", "_end_of_epoch", "_metrics", "evaluate", "batch_positions", "_drain_writes"): timed(T, n)
    timed(T, "_write_shards", sync=False)  # (the writer thread: host work only; a sync there could meet a graph capture)
    for n in ("take", "finish", "rows_and_weights"): timed(T._Checkpoints, n)
    for n in ("epoch", "_capture"): timed(T._PrefixSteps, n)
    step = T._PrefixSteps._step
    def step_ev(self, b):
        if not torch.cuda.is_available(): return step(self, b)
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record(); step(self, b); e1.record(); steps.setdefault(b, []).append((e0, e1))
    T._PrefixSteps._step = step_ev; undo.append((T._PrefixSteps, "_step", step))
    def restore():
        for owner, name, f in reversed(undo): setattr(owner, name, f)
    return acc, cnt, steps, restore


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda"); p.add_argument("--out", type=Path, default=Path("/tmp/full_zoo"))
    p.add_argument("--phases", action="store_true", help="time the build's phases and every step (the time budget)")
    p.add_argument("--prefix", choices=("graphs", "eager", "off"), default="off",
                   help="the CUDA epoch loop: sorted prefixes in CUDA graphs, eager, or the step loop (off, the library default)")
    p.add_argument("--previous", type=Path, default=None, help="an earlier result JSON to keep and compare with")
    p.add_argument("--json", type=Path, default=None, help="also write the summary here")
    p.add_argument("--quick", action="store_true", help="the tiny profile")
    a = p.parse_args(argv)
    T.PREFIX_STEPS["devices"] = () if a.prefix == "off" else ("cuda",)
    if a.prefix == "eager": T.PREFIX_STEPS["graphs"] = False
    profile = "tiny" if a.quick else "full"
    previous = json.loads(a.previous.read_text()) if a.previous else None
    if previous and "previous" in previous: previous = {k: v for k, v in previous.items() if k != "previous"}  # (one level kept)
    timers = install_phase_timers() if a.phases else None
    shutil.rmtree(a.out, ignore_errors=True)
    start = time.perf_counter()
    try: manifest = build_zoo_timed(a, profile)
    finally:
        if timers: timers[3]()
    seconds = time.perf_counter() - start
    ix = pd.read_parquet(a.out / "index.parquet"); final = ix[ix.is_final]
    learned = final.test_acc > 1 / final.n_classes + 0.2
    by = final.assign(learned=learned).groupby(["activation", "init"]).agg(
        models=("model_id", "size"), mean_final_epoch=("epoch", "mean"), median_test_acc=("test_acc", "median"), share_learned=("learned", "mean"))
    by["checkpoints"] = ix.groupby(["activation", "init"]).size()
    cuda = a.device.startswith("cuda")
    out = {"device": torch.cuda.get_device_name(0) if cuda else a.device, "profile": profile,
           "models": int(manifest["n_models"]), "checkpoints": int(manifest["n_checkpoints"]), "wall_seconds": round(seconds, 1),
           "wall_minutes": round(seconds / 60, 2), "train_seconds": manifest.get("train_seconds"),
           "median_final_test_acc": round(float(final.test_acc.median()), 4),
           "precision": manifest["config"]["train"]["precision"], "epoch_loop": a.prefix,
           "by_slice": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in by.reset_index().to_dict("records")],
           "torch": torch.__version__, "commit": git_commit(), "command": "python bench/full_zoo_build.py " + " ".join(argv or __import__("sys").argv[1:])}
    if previous:
        old = {(r["activation"], r["init"]): r for r in previous.get("by_slice", [])}
        d = [round(r["median_test_acc"] - old[(r["activation"], r["init"])]["median_test_acc"], 4) for r in out["by_slice"] if (r["activation"], r["init"]) in old]
        out["vs_previous"] = {"wall_speedup": round(previous["wall_seconds"] / seconds, 2),
                              "median_final_test_acc_delta": round(out["median_final_test_acc"] - previous["median_final_test_acc"], 4),
                              "slice_median_acc_delta_min": min(d) if d else None, "slice_median_acc_delta_max": max(d) if d else None,
                              "slices_within_0.005": sum(abs(x) <= 0.005 for x in d), "slices": len(d)}
        out["previous"] = previous
    if timers:
        acc, cnt, steps, _ = timers
        by_b = {b: (len(v), sum(e0.elapsed_time(e1) for e0, e1 in v)) for b, v in sorted(steps.items())}
        out["phases"] = {"seconds_inclusive": {k: round(v, 2) for k, v in acc.items()}, "calls": cnt,
                         "step_gpu_seconds": round(sum(ms for _, ms in by_b.values()) / 1e3, 2),
                         "steps_by_rows": {str(b): {"steps": n, "gpu_s": round(ms / 1e3, 3), "ms_per_step": round(ms / n, 3)} for b, (n, ms) in by_b.items()}}
    if a.json: a.json.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))
    return out


def build_zoo_timed(a, profile):
    return T.build_zoo(a.out, profile, device=a.device, progress=False)


if __name__ == "__main__":
    main()
