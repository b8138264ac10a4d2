"""`merge_train` end to end on a real (tiny) zoo: the CLI entry trains with offline W&B logging and safetensors
checkpoints, a rerun resumes instead of retraining, the checkpoint plugs into the merging benchmark as `transformer_ae`,
and the learned-merge experiment runs through `nblab reproduce` in the tiny profile."""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from neuralblitz_lab.core import load_json, load_safetensors
from neuralblitz_lab.merge.train import add_merge_train_cli, cmd_merge_train, register_transformer_ae

NBLAB = Path(sys.executable).parent / "nblab"


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("zoo") / "tiny"
    r = subprocess.run([str(NBLAB), "zoo", "build", "--profile", "tiny", "--out", str(out), "--device", "cpu", "--workers", "1",
                        "--no-progress"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def parse(*argv):
    ap = argparse.ArgumentParser(); add_merge_train_cli(ap.add_subparsers())
    return ap.parse_args(["train", *map(str, argv)])


def test_cli_trains_logs_offline_and_resumes(tiny_zoo, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "m"
    args = parse("--profile", "tiny", "--zoo", tiny_zoo, "--out", out, "--epochs", "2", "--no-progress", "--wandb-mode", "offline")
    assert cmd_merge_train(args) == 0
    printed = capsys.readouterr().out
    assert f"checkpoint: {out / 'transformer_ae.safetensors'}" in printed
    tensors, meta = load_safetensors(out / "last.safetensors")
    assert json.loads(meta["epoch"]) == 1 and any(k.startswith("model.") for k in tensors)
    assert not any(k.startswith("opt.") for k in tensors)  # a finished run keeps no optimizer state
    assert list((out / "wandb").glob("offline-run-*")), "no offline W&B run was written"
    before = (out / "last.safetensors").stat().st_mtime_ns
    again = parse("--profile", "tiny", "--zoo", tiny_zoo, "--out", out, "--epochs", "2", "--no-progress", "--wandb-mode", "disabled")
    assert cmd_merge_train(again) == 0  # resumes after the last finished epoch: nothing left to train
    assert (out / "last.safetensors").stat().st_mtime_ns == before
    assert [h["epoch"] for h in load_json(out / "history.json")] == [0, 1]
    from neuralblitz_lab.core import ConfigError
    with pytest.raises(ConfigError, match="another configuration"):
        cmd_merge_train(parse("--profile", "tiny", "--zoo", tiny_zoo, "--out", out, "--epochs", "2", "--lr", "0.5", "--no-progress"))


def test_registers_in_the_benchmark(tiny_zoo, tmp_path, monkeypatch):
    from neuralblitz_lab.merge import benchmark as merge_eval
    monkeypatch.setattr(merge_eval, "MERGE_METHODS", dict(merge_eval.MERGE_METHODS))  # later tests see the usual methods
    from neuralblitz_lab.data import load_dataset
    from neuralblitz_lab.merge.train import run_merge_training
    from neuralblitz_lab.zoo.store import Zoo
    r = run_merge_training("tiny", tiny_zoo, tmp_path / "m", epochs=1, wandb_mode="disabled", progress=False)
    assert register_transformer_ae(r["checkpoint"])
    zoo = Zoo(tiny_zoo)
    tri = merge_eval.zoo_triplets(zoo, "train")  # the tiny zoo's one triplet is a train one under unseen_union
    batch = merge_eval.make_batch(zoo, tri, load_dataset("tiny"))
    method = merge_eval.MERGE_METHODS["transformer_ae"]
    w = method(batch)
    assert w.shape == batch.w1.shape and torch.isfinite(w).all()
    # the checkpoint records what it trained and selected on: here the tiny zoo's one triplet, a leak of that triplet's union
    assert method.seen_class_sets == {(0, 1), (2, 3), (0, 1, 2, 3)}
    assert merge_eval.leaked_unions(tri["union"], method.seen_class_sets) == len(tri)
    assert json.loads(load_safetensors(r["checkpoint"])[1]["split_mode"]) == "unseen_union"
    merge_eval._register_learned("tiny", "none"); assert "transformer_ae" not in merge_eval.MERGE_METHODS  # --tae-checkpoint none
    merge_eval._register_learned("tiny", str(r["checkpoint"])); assert "transformer_ae" in merge_eval.MERGE_METHODS


def test_experiment_runs_in_tiny(tmp_path):
    r = subprocess.run([str(NBLAB), "reproduce", "--profile", "tiny", "--only", "03_learned_merge", "--root", str(tmp_path), "--no-progress"],
                       capture_output=True, text=True, timeout=900, env={**os.environ, "WANDB_MODE": "disabled"})
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    s = json.loads((tmp_path / "figures/03_learned_merge/summary.json").read_text())
    assert s["tae_k0_rel"] >= 0 and s["tae_k200_rel"] >= 0 and s["n_triplets"] >= 1  # tiny models are near chance: no ratio bound
    assert (tmp_path / "figures/03_learned_merge/benchmark_table.csv").is_file()


def test_distills_on_union_images_by_default(tiny_zoo, tmp_path):
    "The default distils each triplet on its own union classes' images; 'all' (one shared batch) is another objective."
    from neuralblitz_lab.merge.train import run_merge_training
    kw = dict(epochs=1, loss="lwln_mse=0.03,distill=1", n_images=4, wandb_mode="disabled", progress=False)
    u = run_merge_training("tiny", tiny_zoo, tmp_path / "u", **kw)
    a = run_merge_training("tiny", tiny_zoo, tmp_path / "a", distill_images="all", **kw)
    _, meta = load_safetensors(u["checkpoint"])
    assert json.loads(meta["train_config"])["distill_images"] == "union"
    du, da = u["history"][0]["train/distill"], a["history"][0]["train/distill"]
    assert du > 0 and da > 0 and du != da  # same model and seed, other images
