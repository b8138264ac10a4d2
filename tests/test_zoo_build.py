"""`nblab zoo build` end to end: a real build killed mid-way resumes without retraining or losing a model, and ends
with the same weights as an uninterrupted build; the store loads back with `Zoo`."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from neuralblitz_lab.zoo.store import Zoo

NBLAB = Path(sys.executable).parent / "nblab"


def build_cmd(out: Path, workers: int = 1) -> list[str]:
    # group size 1: one shard per model, so a kill lands between shards
    return [str(NBLAB), "zoo", "build", "--profile", "tiny", "--out", str(out), "--device", "cpu",
            "--workers", str(workers), "--group-size", "1", "--no-progress"]


def done_shards(out: Path) -> dict[str, int]:
    return {p.stem: p.stat().st_mtime_ns for p in (out / "shards").glob("*.parquet")}


def test_killed_build_resumes_without_retraining(tmp_path):
    killed = tmp_path / "killed"
    proc = subprocess.Popen(build_cmd(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while len(done_shards(killed) if (killed / "shards").is_dir() else {}) < 2 and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL); proc.wait()
    before = done_shards(killed)
    assert 2 <= len(before) < 8, f"the kill should land mid-build; {len(before)} of 8 shards were done"
    assert not (killed / "manifest.json").exists()  # an unfinished zoo has no manifest

    resumed = subprocess.run(build_cmd(killed), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = done_shards(killed)
    assert len(after) == 8 and all(after[k] == t for k, t in before.items()), "finished shards were rewritten"

    clean = tmp_path / "clean"
    assert subprocess.run(build_cmd(clean), capture_output=True, timeout=600).returncode == 0
    zk, zc = Zoo(killed), Zoo(clean)
    assert len(zk) == len(zc) == 16 and zk.index["model_id"].nunique() == 8
    assert torch.equal(zk.weights(), zc.weights())
    cols = ["model_id", "bin", "epoch", "test_acc"]
    assert zk.index[cols].equals(zc.index[cols])


def test_corrupted_shard_is_named(tmp_path):
    out = tmp_path / "z"
    assert subprocess.run(build_cmd(out), capture_output=True, timeout=600).returncode == 0
    shard = sorted((out / "shards").glob("*.safetensors"))[3]
    data = bytearray(shard.read_bytes()); data[-10] ^= 0xFF; shard.write_bytes(bytes(data))
    try:
        Zoo(out)
    except OSError as e:
        assert f"shards/{shard.name}" in str(e) and "sha256 differs" in str(e)
    else:
        raise AssertionError("a corrupted shard was not detected")


def test_worker_pool_builds_the_same_zoo(tmp_path):
    """Two spawned single-threaded workers (the CPU default) give the weights of the one-process build, to float
    rounding (one thread and two sum convolutions in different orders)."""
    one, two = tmp_path / "one", tmp_path / "two"
    for out, workers in ((one, 1), (two, 2)):
        r = subprocess.run(build_cmd(out, workers), capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
    assert Zoo(two).manifest["workers"] == 2
    diff = (Zoo(one).weights() - Zoo(two).weights()).abs().max().item()
    assert diff < 1e-5, diff
    assert Zoo(one).index["model_id"].tolist() == Zoo(two).index["model_id"].tolist()


POOL_SCRIPT = """
from neuralblitz_lab.zoo.train import _POOLS, _worker_pool, plan_groups, plan_zoo, train_config, train_groups
if __name__ == "__main__":
    pool = _worker_pool(2)
    assert _worker_pool(2) is pool, "a second call must reuse the pool"
    groups = plan_groups(plan_zoo("tiny"), 2)[:2]
    train_groups(groups, ("tiny", None, 0), train_config("tiny"), "cpu", 2)
    assert _POOLS[2] is pool, "a finished build keeps the pool for the next one"
    try: train_groups(groups, ("no-such-profile", None, 0), train_config("tiny"), "cpu", 2)
    except Exception as e: assert "no-such-profile" in str(e), e
    else: raise AssertionError("a worker's error must reach the caller")
    assert 2 not in _POOLS, "a failed build must drop (and terminate) its pool"
    print("ok")
"""


def test_worker_pool_is_reused_and_dropped_on_failure(tmp_path):
    "CPU workers start once per process and serve later builds; a failing build terminates them and raises the worker's error."
    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]
