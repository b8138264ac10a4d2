"""Time to build the `full` zoo (1,013 experiences x 6 activations x 6 inits = 36,468 models) on one device, measured on
a fraction and extrapolated.

    python bench/full_zoo_estimate.py [--device cuda] [--activation relu] [--init kaiming_uniform|all] [--experiences N] [--group-size G] [--breakdown]

Trains one (activation, init) slice of the `full` plan — every experience, the real recipe (40 epochs, bins, early
stopping, checkpoint metrics), exactly as `build_zoo` does minus the shard writes — and extrapolates linearly to the 36
slices of `full` and the 6 of `seed`. With `--init all` it trains the activation's six init slices the way a CUDA build
does, stacked into passes of up to `train.GPU_STACK_MODELS` models, and extrapolates to six activations. Slices differ in how early their models stop, so the estimate is one slice's cost
times 36, stated as such. With `--breakdown` the seconds are split into training steps, end-of-epoch work (validation,
early stopping, checkpoints and their metrics) and batch-order draws (a device sync around each, so the total grows a
little), with the steps' count and how many models they carried. The last stdout line is the JSON summary.
"""
import argparse
import json
import os
import time

import pandas as pd
import torch

import neuralblitz_lab.zoo.train as train
from neuralblitz_lab.core import git_commit
from neuralblitz_lab.zoo.train import plan_groups, plan_zoo, stack_groups, train_config, train_stacked
from neuralblitz_lab.data import load_dataset


def time_phases(sync) -> dict:
    "Wrap the epoch loop's three callees to accumulate their seconds (synchronized), steps and models per step."
    acc = {"train_step_s": 0.0, "end_of_epoch_s": 0.0, "epoch_positions_s": 0.0, "steps": 0, "model_steps": 0}
    def timed(name, key, count=False):
        fn = getattr(train, name)
        def wrapper(*args, **kw):
            sync(); t = time.perf_counter(); out = fn(*args, **kw); sync(); acc[key] += time.perf_counter() - t
            if count: acc["steps"] += 1; acc["model_steps"] += int((args[5] >= 0).any(1).sum())  # positions: (n, B)
            return out
        setattr(train, name, wrapper)
    timed("train_step", "train_step_s", count=True); timed("_end_of_epoch", "end_of_epoch_s"); timed("batch_positions", "epoch_positions_s")
    return acc


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda"); p.add_argument("--activation", default="relu")
    p.add_argument("--init", default="kaiming_uniform"); p.add_argument("--experiences", type=int, default=None)
    p.add_argument("--group-size", type=int, default=1024)
    p.add_argument("--breakdown", action="store_true", help="split the time by phase (adds a sync per call)")
    a = p.parse_args(argv)
    cuda = a.device.startswith("cuda")
    phases = time_phases(torch.cuda.synchronize if cuda else (lambda: None)) if a.breakdown else None
    plan = plan_zoo("full")
    plan = plan[(plan.activation == a.activation) & ((plan.init == a.init) | (a.init == "all"))]
    if a.experiences: plan = plan.iloc[:: max(1, len(plan) // a.experiences)].head(a.experiences)
    cfg, ds = train_config("full"), load_dataset("full", seed=0)
    rows, start = [], time.perf_counter()
    groups = plan_groups(plan, a.group_size)
    stacks = stack_groups(groups, train.GPU_STACK_MODELS) if cuda else [[kg] for kg in groups]
    for st in stacks: rows += [r for _, r in train_stacked([g for _, g in st], ds, cfg, a.device)]
    if a.device.startswith("cuda"): torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    idx = pd.concat(rows); final = idx[idx.is_final]
    out = {"device": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else f"cpu ({os.cpu_count()} cores)",
           "slice": f"{a.activation}/{a.init}", "models": int(len(final)), "checkpoints": int(len(idx)), "seconds": round(seconds, 1),
           "passes": len(stacks), "models_per_pass": [sum(len(g) for _, g in st) for st in stacks],
           "group_size": a.group_size, "mean_final_epoch": round(float(final.epoch.mean()), 2),
           "median_final_test_acc": round(float(final.test_acc.median()), 4),
           "full_zoo_minutes_estimate": round(seconds * 36468 / len(final) / 60, 1),
           "seed_zoo_minutes_estimate": round(seconds * 6078 / len(final) / 60, 1) if a.init != "all" else None,
           "torch": torch.__version__, "commit": git_commit()}
    if phases: out.update({k: round(v, 2) if isinstance(v, float) else v for k, v in phases.items()},
                          mean_models_per_step=round(phases["model_steps"] / max(1, phases["steps"]), 1))
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
