"""The zoo store end to end: a synthetic 3-shard zoo written with ZooWriter, read with Zoo, exported to CSV, damaged, killed and resumed."""
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from neuralblitz_lab.zoo import store as zoo_mod
from neuralblitz_lab.core import ChecksumError, ConfigError, DataError, StorageError
from neuralblitz_lab.zoo.store import (ACTIVATIONS, CSV_ACTIVATION_ORDER, CSV_COLUMNS, EPOCH_BINS, INDEX_COLUMNS, INITS, MAX_EPOCHS,
                                 N_PARAMS, Zoo, ZooWriter, all_experiences, experience_splits, export_csv, merge_scenarios,
                                 split_scenarios)

PLAN = {"gelu-part0": [0, 1, 2, 3], "relu-part0": [4, 5, 6], "silu-part0": [7, 8, 9, 10, 11]}  # shard key -> model ids
EXPERIENCES = all_experiences()


def fake_shard(model_ids, seed=0):
    "Random float32 weights and valid index rows: each model stops at a random epoch, with a row per bin it reached."
    rng, rows = np.random.default_rng(seed), []
    for m in model_ids:
        stop = int(rng.integers(EPOCH_BINS[0], MAX_EPOCHS + 1))
        bins = [b for b in EPOCH_BINS if b <= stop]
        exp = EXPERIENCES[(101 * m) % len(EXPERIENCES)]
        for b in bins:
            acc, loss = rng.uniform(0.1, 1, 3), rng.uniform(0, 3, 3)
            rows.append(dict(model_id=m, classes=list(exp), n_classes=len(exp), activation=ACTIVATIONS[m % 6],
                             init=INITS[(m // 2) % 6], seed=0, bin=b, epoch=stop if b == bins[-1] else b, is_final=b == bins[-1],
                             train_acc=acc[0], val_acc=acc[1], test_acc=acc[2], train_loss=loss[0], val_loss=loss[1],
                             test_loss=loss[2], confusion=rng.integers(0, 50, 100).tolist()))
    weights = rng.standard_normal((len(rows), N_PARAMS)).astype(np.float32) * rng.uniform(1e-3, 3)
    return torch.from_numpy(weights), pd.DataFrame(rows)


def build(path: Path, scenarios: bool = True):
    "Write the 3-shard zoo of PLAN; return the expected (weights, rows) per key."
    writer = ZooWriter(path, {"profile": "test", "lr": 0.01})
    expected = {key: fake_shard(ids, seed=i) for i, (key, ids) in enumerate(PLAN.items())}
    for key, (w, rows) in expected.items():
        if key not in writer.done_keys(): writer.write_shard(key, w, rows)
    if scenarios: writer.write_scenarios(split_scenarios(merge_scenarios(), seed=3))
    writer.finalize(data_fingerprint="fake-data", split_seed=3 if scenarios else None, profile="test")
    return expected


def shard_stats(path: Path) -> dict:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in sorted((path / "shards").iterdir())}


@pytest.fixture
def built(tmp_path):
    path = tmp_path / "zoo"
    return path, build(path)


def test_weights_and_index_round_trip(built):
    path, expected = built
    zoo = Zoo(path)
    assert len(zoo) == sum(len(w) for w, _ in expected.values())
    assert list(zoo.index.columns[:len(INDEX_COLUMNS)]) == list(INDEX_COLUMNS)
    all_w = zoo.weights()
    assert all_w.dtype == torch.float32 and all_w.shape == (len(zoo), N_PARAMS)
    for key, (w, rows) in expected.items():
        mine = zoo.index.shard == key
        assert torch.equal(all_w[torch.tensor(mine.to_numpy())], w)  # bit-exact
        got = zoo.index[mine].reset_index(drop=True)
        assert got["row"].tolist() == list(range(len(rows)))
        assert got["classes"].tolist() == [tuple(c) for c in rows["classes"]]
        assert got["confusion"].tolist() == [tuple(c) for c in rows["confusion"]]
        for col in ("model_id", "epoch", "bin", "is_final", "test_acc", "val_loss", "activation", "init"):
            assert got[col].tolist() == rows[col].tolist(), col
    m = zoo.manifest
    assert m["n_models"] == 12 and m["shards"] == sorted(PLAN) and m["data_fingerprint"] == "fake-data" and m["split_seed"] == 3
    assert {"torch", "numpy", "neuralblitz_lab"} <= set(m["versions"]) and m["config"] == {"profile": "test", "lr": 0.01}
    assert m["profile"] == "test" and len(m["files"]) == 2 * len(PLAN) + 2


def test_filters(built):
    path, _ = built
    zoo, idx = Zoo(path), Zoo(path).index
    assert set(zoo.filter(activation="relu").index.activation) == {"relu"}
    both = zoo.filter(activation=["gelu", "silu"], init="xavier_uniform", bin=[11, 16])
    want = idx[idx.activation.isin(["gelu", "silu"]) & (idx.init == "xavier_uniform") & idx.bin.isin([11, 16])]
    assert both.index.model_id.tolist() == want.model_id.tolist() and len(both) > 0
    final = zoo.filter(final_only=True)
    assert len(final) == 12 and final.index.model_id.is_unique
    exp = EXPERIENCES[101 * 7 % len(EXPERIENCES)]
    assert set(zoo.filter(classes=list(exp)).index.model_id) == {7}
    assert set(zoo.filter(classes=[list(exp), EXPERIENCES[0]]).index.model_id) == {0, 7}
    assert len(zoo.filter(n_classes=len(exp))) == (idx.n_classes == len(exp)).sum()
    sub = zoo.filter(model_id=[9, 2])
    assert torch.equal(sub.weights(), zoo.weights()[torch.tensor(idx.model_id.isin([9, 2]).to_numpy())])
    assert len(zoo.filter(activation="tanh", init="normal")) == 0
    status = experience_splits(zoo.scenarios())
    assert len(zoo.filter(split=["val", "test"])) == sum(status.get(c, "train") != "train" for c in idx.classes)
    with pytest.raises(ConfigError, match=r"activation='swish' unknown; choose from \['gelu'"): zoo.filter(activation="swish")
    with pytest.raises(ConfigError, match="init='he' unknown"): zoo.filter(init="he")
    with pytest.raises(ConfigError, match=r"bin=15 unknown; choose from \[11, 16"): zoo.filter(bin=15)


def test_csv_export_matches_store_and_streams(built, tmp_path, monkeypatch):
    path, _ = built
    zoo = Zoo(path)
    seen = []
    real_read = zoo_mod._read_weights
    def spy(shards, index):
        seen.append(len(index)); return real_read(shards, index)
    monkeypatch.setattr(zoo_mod, "_read_weights", spy)
    monkeypatch.setattr(Zoo, "weights", lambda self: pytest.fail("export_csv must stream, not load every weight"))
    out = export_csv(zoo, tmp_path / "zoo.csv", chunk_rows=7)
    assert max(seen) <= 7 and sum(seen) == len(zoo) and len(seen) == -(-len(zoo) // 7)
    monkeypatch.undo()

    back = pd.read_csv(out, float_precision="round_trip")
    assert tuple(back.columns) == CSV_COLUMNS and len(back) == len(zoo)
    assert back.row_id.tolist() == list(range(1, len(zoo) + 1))
    wcols = [f"weight {j}" for j in range(N_PARAMS)]
    assert torch.equal(torch.from_numpy(back[wcols].to_numpy(np.float32)), zoo.weights())
    idx = zoo.index
    assert back.label.tolist() == [str(list(c)) for c in idx.classes]
    assert back.label.iloc[0].startswith("[") and ", " in back.label.iloc[0]
    onehot = back[[str(d) for d in range(10)]].to_numpy()
    assert onehot.tolist() == [[int(d in c) for d in range(10)] for c in idx.classes]
    acts = back[list(CSV_ACTIVATION_ORDER)].to_numpy()
    assert (acts.sum(1) == 1).all()
    assert [CSV_ACTIVATION_ORDER[i] for i in acts.argmax(1)] == idx.activation.tolist()
    assert back.accuracy.tolist() == idx.test_acc.tolist()
    assert back.epoch.tolist() == idx.epoch.tolist() and back.epoch_bin.tolist() == idx.bin.tolist()
    assert back.init.tolist() == idx.init.tolist()

    filtered = export_csv(zoo, tmp_path / "final_relu.csv", activation="relu", final_only=True)
    got = pd.read_csv(filtered)
    assert set(got.relu) == {1} and len(got) == len(zoo.filter(activation="relu", final_only=True))
    assert not list(tmp_path.glob(".*.tmp"))


def test_corrupted_shard_is_named(built):
    path, _ = built
    shard = path / "shards" / "relu-part0.safetensors"
    good = shard.read_bytes()
    flipped = bytearray(good); flipped[len(good) // 2] ^= 0x10
    shard.write_bytes(bytes(flipped))
    with pytest.raises(ChecksumError, match=r"shards/relu-part0\.safetensors \(sha256 differs"): Zoo(path)
    shard.write_bytes(good[:-40])
    with pytest.raises(ChecksumError, match=r"shards/relu-part0\.safetensors \(sha256 differs"): Zoo(path)
    with pytest.raises(ChecksumError, match=r"shards/relu-part0\.safetensors \(size differs"): Zoo(path, verify=False)
    shard.write_bytes(good)
    assert len(Zoo(path)) > 0
    (path / "shards" / "gelu-part0.parquet").unlink()
    with pytest.raises(ChecksumError, match=r"gelu-part0\.parquet \(missing\)"): Zoo(path)


def test_missing_or_unfinished_zoo(tmp_path):
    with pytest.raises(StorageError, match="no zoo at .*nblab zoo build"): Zoo(tmp_path / "nothing")
    writer = ZooWriter(tmp_path / "half", {})
    writer.write_shard("a", *fake_shard([0]))
    with pytest.raises(StorageError, match="has no manifest.json: its build has not finished; run `nblab zoo build`"):
        Zoo(tmp_path / "half")
    build(tmp_path / "nosc", scenarios=False)
    with pytest.raises(StorageError, match="built without scenarios"): Zoo(tmp_path / "nosc").scenarios()
    with pytest.raises(StorageError, match="built without scenarios"): Zoo(tmp_path / "nosc").filter(split="test")


KILLER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_zoo_store import PLAN, fake_shard
    from neuralblitz_lab.zoo import store as zoo
    from neuralblitz_lab.core import atomic_write

    def killed_mid_write(df, path):  # the process dies while the rows of the third shard are half-written
        with atomic_write(path) as f:
            f.write(b"PAR1 half a parquet file"); f.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    writer = zoo.ZooWriter({path!r}, {{"profile": "test", "lr": 0.01}})
    for i, (key, ids) in enumerate(PLAN.items()):
        if i == 2: zoo.save_parquet = killed_mid_write
        writer.write_shard(key, *fake_shard(ids, seed=i))
""")


def test_killed_build_resumes_without_rewriting_done_shards(tmp_path):
    path = tmp_path / "zoo"
    script = KILLER.format(tests=str(Path(__file__).parent), path=str(path))
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    last = list(PLAN)[-1]
    assert (path / "shards" / f"{last}.safetensors").is_file() and not (path / "shards" / f"{last}.parquet").exists()
    assert list((path / "shards").glob(f".{last}.parquet.*.tmp"))  # the kill left a temp file
    writer = ZooWriter(path, {"profile": "test", "lr": 0.01})
    assert writer.done_keys() == list(PLAN)[:2] and not writer.has_shard(last)
    with pytest.raises(StorageError, match=rf"shards \['{last}'\] .* are incomplete"): writer.finalize(data_fingerprint="x")
    before = shard_stats(path)

    expected = build(path)  # the restarted build: skips done keys, rewrites the half-written one, finalizes
    after = shard_stats(path)
    for key in list(PLAN)[:2]:
        for ext in ("safetensors", "parquet"): assert after[f"{key}.{ext}"] == before[f"{key}.{ext}"]  # untouched
    assert after[f"{last}.safetensors"] != before[f"{last}.safetensors"]
    assert not [n for n in after if n.endswith(".tmp")]
    zoo = Zoo(path)
    assert torch.equal(zoo.filter(model_id=PLAN[last]).weights(), expected[last][0])
    assert torch.equal(zoo.weights(), torch.cat([w for w, _ in expected.values()]))


def test_restart_after_exception_in_second_file(tmp_path, monkeypatch):
    path = tmp_path / "zoo"
    writer = ZooWriter(path, {"profile": "test"})
    w, rows = fake_shard([0, 1])
    def boom(df, p): raise KeyboardInterrupt("killed")
    monkeypatch.setattr(zoo_mod, "save_parquet", boom)
    with pytest.raises(KeyboardInterrupt): writer.write_shard("a", w, rows)
    monkeypatch.undo()
    assert writer.done_keys() == [] and (path / "shards" / "a.safetensors").is_file()
    assert writer.write_shard("a", w, rows) == len(w)
    assert writer.done_keys() == ["a"]
    with pytest.raises(StorageError, match="is already written"): writer.write_shard("a", w, rows)
    with pytest.raises(ConfigError, match="was started with another config"): ZooWriter(path, {"profile": "other"})


def test_bad_inputs_are_named(tmp_path):
    writer = ZooWriter(tmp_path / "zoo", {})
    w, rows = fake_shard([0, 1, 2])
    with pytest.raises(DataError, match=r"shape \(\d+, 2463\); expected \(n_models, 2464\)"): writer.write_shard("k", w[:, :-1], rows)
    with pytest.raises(DataError, match=r"lack column\(s\) \['val_acc'\]"): writer.write_shard("k", w, rows.drop(columns="val_acc"))
    nan = w.clone(); nan[1, 100] = float("nan")
    with pytest.raises(DataError, match=r"rows \[1\] \(1 in all\) hold NaN or inf"): writer.write_shard("k", nan, rows)
    with pytest.raises(DataError, match="pass weights.float()"): writer.write_shard("k", w.double(), rows)
    with pytest.raises(DataError, match=r"rows has \d+ row\(s\) but weights has 2"): writer.write_shard("k", w[:2], rows)
    with pytest.raises(DataError, match=r"rows\['init'\] is unknown at row 0 \(value 'he'"): writer.write_shard("k", w, rows.assign(init="he"))
    with pytest.raises(DataError, match=r"rows\['epoch'\] \(dtype float64\) must hold int values"):
        writer.write_shard("k", w, rows.assign(epoch=rows.epoch.astype(float)))
    with pytest.raises(ConfigError, match="shard key 'a/b'"): writer.write_shard("a/b", w, rows)
    assert writer.done_keys() == [] and not any((tmp_path / "zoo" / "shards").iterdir())  # nothing written on bad input
    short = ZooWriter(tmp_path / "tiny", {}, epoch_bins=(1, 2), max_epochs=2)  # a profile with another schedule
    with pytest.raises(DataError, match=r"rows\['bin'\] is unknown at row 0 \(value 11.*choose one of \[1, 2\]"): short.write_shard("k", w, rows)
    dup = fake_shard([0], seed=5)
    writer.write_shard("one", *fake_shard([0], seed=4)); writer.write_shard("two", *dup)
    with pytest.raises(DataError, match=r"model_id 0 has bin 11 in shards \['one', 'two'\]"): writer.finalize(data_fingerprint="x")
