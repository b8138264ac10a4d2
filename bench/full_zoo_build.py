"""The whole `full` zoo (1,013 experiences x 6 activations x 6 inits = 36,468 models) built for real, end to end, timed.

    python bench/full_zoo_build.py [--device cuda] [--out /tmp/full_zoo]

Runs `train.build_zoo(out, "full")` exactly as `nblab zoo build --profile full` does (training, checkpoint metrics,
shard writes with checksums, index, scenarios, manifest) into a fresh folder, and reports the wall time, what the manifest
records, and per (activation, init) slice the models, checkpoints, mean final epoch, median final test accuracy and the
share of models that learned (final test accuracy > chance + 20 points). The last stdout line is the JSON summary.
"""
import argparse
import json
import shutil
import time
from pathlib import Path

import pandas as pd
import torch

from neuralblitz_lab.core import git_commit
from neuralblitz_lab.zoo.train import build_zoo


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda"); p.add_argument("--out", type=Path, default=Path("/tmp/full_zoo"))
    a = p.parse_args(argv)
    shutil.rmtree(a.out, ignore_errors=True)
    start = time.perf_counter()
    manifest = build_zoo(a.out, "full", device=a.device, progress=False)
    seconds = time.perf_counter() - start
    ix = pd.read_parquet(a.out / "index.parquet"); final = ix[ix.is_final]
    learned = final.test_acc > 1 / final.n_classes + 0.2
    by = final.assign(learned=learned).groupby(["activation", "init"]).agg(
        models=("model_id", "size"), mean_final_epoch=("epoch", "mean"), median_test_acc=("test_acc", "median"), share_learned=("learned", "mean"))
    by["checkpoints"] = ix.groupby(["activation", "init"]).size()
    out = {"device": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else a.device, "profile": "full",
           "models": int(manifest["n_models"]), "checkpoints": int(manifest["n_checkpoints"]), "wall_seconds": round(seconds, 1),
           "wall_minutes": round(seconds / 60, 2), "train_seconds": manifest.get("train_seconds"),
           "median_final_test_acc": round(float(final.test_acc.median()), 4),
           "by_slice": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in by.reset_index().to_dict("records")],
           "torch": torch.__version__, "commit": git_commit()}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
