"""Time to build the `full` zoo (1,013 experiences x 6 activations x 6 inits = 36,468 models) on one device, measured on
a fraction and extrapolated.

    python bench/full_zoo_estimate.py [--device cuda] [--activation relu] [--init kaiming_uniform] [--experiences N] [--group-size G]

Trains one (activation, init) slice of the `full` plan — every experience, the real recipe (40 epochs, bins, early
stopping, checkpoint metrics), exactly as `build_zoo` does minus the shard writes — and extrapolates linearly to the 36
slices of `full` and the 6 of `seed`. Slices differ in how early their models stop, so the estimate is one slice's cost
times 36, stated as such. The last stdout line is the JSON summary.
"""
import argparse
import json
import os
import time

import pandas as pd
import torch

from neuralblitz_lab.train import plan_groups, plan_zoo, train_config, train_group
from neuralblitz_lab.data import load_dataset


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda"); p.add_argument("--activation", default="relu")
    p.add_argument("--init", default="kaiming_uniform"); p.add_argument("--experiences", type=int, default=None)
    p.add_argument("--group-size", type=int, default=1024)
    a = p.parse_args(argv)
    plan = plan_zoo("full")
    plan = plan[(plan.activation == a.activation) & (plan.init == a.init)]
    if a.experiences: plan = plan.iloc[:: max(1, len(plan) // a.experiences)].head(a.experiences)
    cfg, ds = train_config("full"), load_dataset("full", seed=0)
    rows, start = [], time.perf_counter()
    for key, g in plan_groups(plan, a.group_size):
        _, r = train_group(g, ds, cfg, a.device); rows.append(r)
    if a.device.startswith("cuda"): torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    idx = pd.concat(rows); final = idx[idx.is_final]
    out = {"device": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else f"cpu ({os.cpu_count()} cores)",
           "slice": f"{a.activation}/{a.init}", "models": int(len(final)), "checkpoints": int(len(idx)), "seconds": round(seconds, 1),
           "group_size": a.group_size, "mean_final_epoch": round(float(final.epoch.mean()), 2),
           "median_final_test_acc": round(float(final.test_acc.median()), 4),
           "full_zoo_minutes_estimate": round(seconds * 36 * (1013 / len(final)) / 60, 1),
           "seed_zoo_minutes_estimate": round(seconds * 6 * (1013 / len(final)) / 60, 1), "torch": torch.__version__}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
