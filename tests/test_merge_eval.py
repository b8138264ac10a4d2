"""The merging benchmark end to end on a small trained zoo with test, validation and training triplets."""
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from neuralblitz_lab.data import load_dataset
from neuralblitz_lab.merge.benchmark import (CLASSICAL_METHODS, MEMORIZATION_BASELINES, REFERENCE_ROWS, FinetuneConfig,
                                        benchmark_summary, evaluate_methods, held_out_pairs, load_merge_store,
                                        register_method, MERGE_METHODS, zoo_triplets)
from neuralblitz_lab.zoo.train import ModelGroup, TrainConfig, train_group
from neuralblitz_lab.zoo.store import Zoo, ZooWriter, experience_splits, merge_scenarios, split_scenarios

ROOT = Path(__file__).resolve().parents[1]
# with split seed 0: (0, 3) and (2, 4) are held-out test pairs, (0, 2) and (1, 4) validation pairs, (0, 1) and (5, 6) training pairs
EXPERIENCES = [(0, 3), (2, 4), (0, 2, 3, 4), (0, 2), (1, 4), (0, 1, 2, 4), (0, 1), (5, 6), (0, 1, 5, 6)]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    "A zoo of 9 relu models (tiny data, 2 epochs) holding two test, one validation and one training triplet."
    path = tmp_path_factory.mktemp("mzoo") / "zoo"
    data = load_dataset("tiny")
    cfg = TrainConfig(max_epochs=2, epoch_bins=(1, 2))
    writer = ZooWriter(path, {"profile": "tiny", "seed": 0}, cfg.epoch_bins, cfg.max_epochs)
    group = ModelGroup("relu", "kaiming_uniform", 0, tuple(range(len(EXPERIENCES))), tuple(EXPERIENCES), tuple(range(len(EXPERIENCES))))
    weights, rows = train_group(group, data, cfg, "cpu")
    writer.write_shard("relu-kaiming_uniform-m000000-000008", weights, rows)
    writer.write_scenarios(split_scenarios(merge_scenarios(), 0))
    writer.finalize(data.fingerprint, split_seed=0)
    return Zoo(path), data


def test_triplet_splits(zoo):
    z, _ = zoo
    status = experience_splits(z.scenarios())
    test, val, train = (zoo_triplets(z, s) for s in ("test", "val", "train"))
    assert [(t.c1, t.c2) for t in test.itertuples()] == [((0, 1), (2, 4)), ((0, 3), (2, 4))]  # (2, 4) and (0, 3) are held out
    assert all("test" in {status[c] for c in (t.c1, t.c2, t.union)} for t in test.itertuples())
    assert [(t.c1, t.c2) for t in val.itertuples()] == [((0, 2), (1, 4))]
    assert [(t.c1, t.c2) for t in train.itertuples()] == [((0, 1), (5, 6))]


def test_evaluate_methods_end_to_end(zoo, tmp_path):
    z, data = zoo
    seen = []
    def my_merge(batch):  # a plug-in method: records what it is given
        seen.append(batch); return batch.w2.clone()
    cfg = FinetuneConfig(steps=20, eval_steps=(0, 10, 20), batch_size=8)
    df = evaluate_methods(z, {"my_merge": my_merge}, ks=(0, 10, 20), data=data, finetune=cfg, n_val=None, store_dir=tmp_path / "store", progress=False)
    names = set(df["method"])
    assert {*CLASSICAL_METHODS, *MEMORIZATION_BASELINES, *REFERENCE_ROWS, "my_merge"} <= names
    assert seen and seen[0].c1 == [(0, 1), (0, 3)] and seen[0].union == [(0, 1, 2, 4), (0, 2, 3, 4)] and seen[0].activation == ["relu"] * 2
    # one row per method x triplet x k; the ensemble and the parents are not fine-tuned
    assert not df.duplicated(["method", "triplet", "k"]).any()
    assert set(df.loc[df.method == "ensemble", "k"]) == {0} and set(df.loc[df.method == "average", "k"]) == {0, 10, 20}
    # the plug-in returned parent 2: identical accuracies at k = 0
    k0 = df[df.k == 0].set_index(["method", "triplet"]).sort_index()
    assert (k0.loc["my_merge", "iid_acc"] == k0.loc["parent2", "iid_acc"]).all()
    # the oracle row is the union model: its IID accuracy is the union_acc target
    assert (k0.loc["oracle_union", "iid_acc"] == k0.loc["oracle_union", "union_acc"]).all()
    # forgetting of C1 for parent 1 is 0 by definition; forward transfer of train_from_theta0 is 0
    assert (k0.loc["parent1", "forgetting_c1"].abs() < 1e-9).all()
    assert (df.loc[df.method == "train_from_theta0", "forward_transfer"].abs() < 1e-9).all()
    # hyperparameters were chosen from the validation grid and recorded
    meta = df.attrs["meta"]
    assert set(meta["hyperparameters"]) >= {"task_arithmetic", "ties", "dare", "parent_plus_noise"}
    assert {r["method"] for r in meta["tuning"]} >= {"task_arithmetic", "ties"}
    # the store holds k = 0 for every method and the fine-tuned k = 20 is absent (store_ks 200, 500 > steps)
    w, rows = load_merge_store(tmp_path / "store")
    assert len(w) == len(rows) and set(rows["k"]) == {0} and torch.isfinite(w).all()
    s = benchmark_summary(df, held_out_pairs(z, df))
    assert s["test_pairs"] == [[0, 3], [2, 4]] and set(s["methods"]["average"]) >= {"k0_iid", "k0_ood", "k200_iid", "k200_ood", "steps_to_parents", "steps_to_union"}
    assert s["best_baseline_k0_rel"] == pytest.approx(max(s["methods"][n]["k0_iid"] for n in (*CLASSICAL_METHODS, *MEMORIZATION_BASELINES)) / s["union_acc"], abs=1e-3)


def test_cli_runs_and_prints_outputs(zoo, tmp_path, capsys):
    import argparse
    from neuralblitz_lab.merge.benchmark import add_merge_eval_cli
    z, _ = zoo
    parser = argparse.ArgumentParser(); add_merge_eval_cli(parser.add_subparsers())
    args = parser.parse_args(["eval", "--profile", "tiny", "--zoo", str(z.path), "--out", str(tmp_path / "o"), "--no-tune",
                              "--no-progress", "--ks", "0", "10"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"summary: {tmp_path / 'o' / 'summary.json'}" in out and "2 test triplets" in out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["n_triplets"] == 2 and summary["hyperparameters"]["ties"] == {}
    assert set(summary["methods"]["average"]) >= {"k0_iid", "k0_ood", "k200_iid", "k200_ood", "steps_to_parents", "steps_to_union"}
    table = pd.read_parquet(tmp_path / "o" / "results.parquet")
    assert set(table["k"]) == {0, 10} and len(table) == table[["method", "triplet", "k"]].drop_duplicates().shape[0]


def test_experiment_runs_in_tiny(tmp_path):
    "The experiment notebook end to end through `nblab reproduce` (tiny: a smoke test on the zoo's validation triplet)."
    import subprocess, sys
    nblab = Path(sys.executable).parent / "nblab"
    r = subprocess.run([str(nblab), "reproduce", "--profile", "tiny", "--only", "02_merge_benchmark", "--root", str(tmp_path), "--no-progress"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    figs = tmp_path / "figures" / "02_merge_benchmark"
    for name in ("main_table.csv", "finetuning_curves.html", "class_pair_heatmap.html", "distance_vs_accuracy.html", "k0_iid_accuracy.html"):
        assert (figs / name).is_file(), name
    table = pd.read_csv(figs / "main_table.csv")
    assert {*CLASSICAL_METHODS, "parent_plus_noise", "oracle_union", "ensemble"} <= set(table["method"])
