"""Distributed zoo builds under `torchrun` on CPU (two `gloo` ranks): the result equals the single-process build, and a
rank killed mid-way (SIGKILL right after its first shard) loses nothing when the job is started again, which retrains
only the unfinished groups."""
import os
import re
import subprocess
import sys
from pathlib import Path

import torch

from neuralblitz_lab.zoo.train import build_zoo
from neuralblitz_lab.zoo.store import Zoo

BIN = Path(sys.executable).parent
COLS = ["model_id", "bin", "epoch", "is_final", "test_acc"]


def run(cmd, env=None):
    # torchrun gives each of its 2 ranks one thread (OMP_NUM_THREADS=1), as the 2-core CI machine wants
    return subprocess.run(list(map(str, cmd)), capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def torchrun_build(out, *extra, env=None):
    # the command; --standalone picks a free rendezvous port (tests run side by side)
    return run([BIN / "torchrun", "--standalone", "--nproc_per_node=2", "-m", "neuralblitz_lab.cli", "zoo", "build",
                "--profile", "tiny", "--out", out, "--no-progress", *extra], env)


def shard_mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir() if not p.name.startswith(".")}


def assert_same_zoo(a: Zoo, b: Zoo):
    assert a.manifest["shards"] == b.manifest["shards"]
    assert a.index[COLS].equals(b.index[COLS])
    diff = (a.weights() - b.weights()).abs().max().item()
    assert diff < 1e-5, diff


def test_two_ranks_equal_the_single_process_build(tmp_path):
    r = torchrun_build(tmp_path / "dist")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "8 models, 16 checkpoints" in r.stdout and "x 2 ranks (gloo)" in r.stdout  # rank 0's summary, once
    assert r.stdout.count("zoo written to") == 1
    shares = [int(n) for n in re.findall(r"rank \d/2 on cpu: (\d+) of 2 unfinished groups", r.stderr)]
    assert shares == [1, 1], r.stderr[-2000:]  # the tiny zoo's 2 groups (4 models each), one per rank
    dist = Zoo(tmp_path / "dist", verify=True)  # every shard's sha256 is in the manifest and matches
    assert dist.manifest["world_size"] == 2 and len(dist.manifest["shards"]) == 2
    build_zoo(tmp_path / "one", "tiny", device="cpu", workers=1, progress=False)
    assert_same_zoo(dist, Zoo(tmp_path / "one"))


def test_killed_rank_restarts_without_retraining_or_losing(tmp_path):
    out = tmp_path / "killed"
    # group size 1: 8 groups, 4 per rank; rank 1 SIGKILLs itself right after writing its first shard
    killed = torchrun_build(out, "--group-size", "1", env={"NBLAB_FAULT_KILL": "1:1"})
    assert killed.returncode != 0 and "exitcode  : -9" in killed.stderr, killed.stderr[-3000:]
    before = shard_mtimes(out)
    done = {n.rsplit(".", 1)[0] for n in before if n.endswith(".parquet")}
    assert 1 <= len(done) < 8, f"the kill should land mid-build; {len(done)} of 8 shards were done"
    assert not (out / "manifest.json").exists()  # an unfinished zoo has no manifest

    # started again, through `nblab zoo build --distributed` (which launches the same torchrun job)
    again = run([BIN / "nblab", "zoo", "build", "--distributed", "--nproc-per-node", "2", "--profile", "tiny", "--out", out,
                 "--device", "cpu", "--group-size", "1", "--no-progress"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert "running: torchrun --standalone --nproc_per_node=2 -m neuralblitz_lab.cli zoo build" in again.stderr
    trained = [int(n) for n in re.findall(r"rank \d/2 on cpu: (\d+) of (?:\d+) unfinished groups", again.stderr)]
    assert sum(trained) == 8 - len(done), (trained, len(done))  # only the unfinished groups were trained
    after = shard_mtimes(out)
    assert all(after[n] == t for n, t in before.items() if n.rsplit(".", 1)[0] in done), "finished shards were rewritten"

    build_zoo(tmp_path / "clean", "tiny", device="cpu", workers=1, group_size=1, progress=False)
    z = Zoo(out, verify=True)
    assert len(z) == 16 and z.index["model_id"].nunique() == 8
    assert_same_zoo(z, Zoo(tmp_path / "clean"))
