"""The merging benchmark end to end on a small trained zoo with test, validation and training triplets, on the honest
split (`unseen_union`: a test triplet's union is held out) and on the zoo's stored one (`parents`)."""
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from neuralblitz_lab.data import load_dataset
from neuralblitz_lab.merge.benchmark import (CLASSICAL_METHODS, MEMORIZATION_BASELINES, REFERENCE_ROWS, RETRIEVAL_BASELINES, FinetuneConfig,
                                             benchmark_summary, evaluate_methods, held_out_pairs, leaked_unions, load_merge_store,
                                             nearest_train_union_method, register_method, MERGE_METHODS, visible_models, zoo_triplets)
from neuralblitz_lab.zoo.train import ModelGroup, TrainConfig, train_group
from neuralblitz_lab.zoo.store import Zoo, ZooWriter, experience_splits, merge_scenarios, split_scenarios

ROOT = Path(__file__).resolve().parents[1]
# split seed 0, mode unseen_union: the quads (0, 1, 5, 6) and (0, 3, 5, 6) are test unions ((0, 3) is a test pair too),
# (0, 1, 3, 4) a validation union, (0, 1, 2, 3) a training one; the 10-class model is in no scenario, so it is visible.
# Under mode parents, (0, 3) is a test parent: only (0, 3) + (5, 6) is test, and (0, 1) + (5, 6) trains.
EXPERIENCES = [(0, 1), (5, 6), (0, 1, 5, 6), (0, 3), (0, 3, 5, 6), (3, 4), (0, 1, 3, 4), (2, 3), (0, 1, 2, 3), tuple(range(10))]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    "A zoo of 10 relu models (tiny data, 2 epochs) holding two test, one validation and one training triplet."
    path = tmp_path_factory.mktemp("mzoo") / "zoo"
    data = load_dataset("tiny")
    cfg = TrainConfig(max_epochs=2, epoch_bins=(1, 2))
    writer = ZooWriter(path, {"profile": "tiny", "seed": 0}, cfg.epoch_bins, cfg.max_epochs)
    n = len(EXPERIENCES)
    group = ModelGroup("relu", "kaiming_uniform", 0, tuple(range(n)), tuple(EXPERIENCES), tuple(range(n)))
    weights, rows = train_group(group, data, cfg, "cpu")
    writer.write_shard(f"relu-kaiming_uniform-m000000-{n - 1:06d}", weights, rows)
    writer.write_scenarios(split_scenarios(merge_scenarios(), 0))  # the store's default: mode parents
    writer.finalize(data.fingerprint, split_seed=0)
    return Zoo(path), data


def test_triplet_splits(zoo):
    z, _ = zoo
    test, val, train = (zoo_triplets(z, s) for s in ("test", "val", "train"))
    assert [(t.c1, t.c2, t.subsplit) for t in test.itertuples()] == [((0, 1), (5, 6), "seen_parents"), ((0, 3), (5, 6), "unseen_parents")]
    assert [(t.c1, t.c2) for t in val.itertuples()] == [((0, 1), (3, 4))]
    assert [(t.c1, t.c2) for t in train.itertuples()] == [((0, 1), (2, 3))]
    vis = set(visible_models(z).classes)
    assert not vis & set(test.union) and tuple(range(10)) in vis and (0, 3) not in vis  # held-out class sets are not visible
    old = zoo_triplets(z, "test", mode="parents")  # the stored split: held-out parents only
    assert [(t.c1, t.c2) for t in old.itertuples()] == [((0, 3), (5, 6))]
    assert (0, 1, 5, 6) in set(zoo_triplets(z, "train", mode="parents").union)
    # the leak count can fail: the lookup built on the parents split reads the union of an unseen_union test triplet
    assert leaked_unions(test.union, nearest_train_union_method(z, mode="parents").seen_class_sets) == 1
    assert leaked_unions(test.union, nearest_train_union_method(z).seen_class_sets) == 0


def test_evaluate_methods_end_to_end(zoo, tmp_path):
    z, data = zoo
    seen = []
    def my_merge(batch):  # a plug-in method: records what it is given
        seen.append(batch); return batch.w2.clone()
    cfg = FinetuneConfig(steps=10, eval_steps=(0, 5, 10), batch_size=8)
    df = evaluate_methods(z, {"my_merge": my_merge}, ks=(0, 5, 10), data=data, finetune=cfg, n_val=None, store_dir=tmp_path / "store", progress=False)
    names = set(df["method"])
    assert {*CLASSICAL_METHODS, *MEMORIZATION_BASELINES, *RETRIEVAL_BASELINES, *REFERENCE_ROWS, "my_merge"} <= names
    assert seen and seen[0].c1 == [(0, 1), (0, 3)] and seen[0].union == [(0, 1, 5, 6), (0, 3, 5, 6)] and seen[0].activation == ["relu"] * 2
    assert len(seen) == 2 and seen[1].c1 == seen[0].c1 and seen[1].c2 == [(0, 3), (0, 1)]  # the second call: parent 2 swapped (input_sensitivity)
    # one row per method x triplet x k; the ensemble and the parents are not fine-tuned
    assert not df.duplicated(["method", "triplet", "k"]).any()
    assert set(df.loc[df.method == "ensemble", "k"]) == {0} and set(df.loc[df.method == "average", "k"]) == {0, 5, 10}
    k0 = df[df.k == 0].set_index(["method", "triplet"]).sort_index()
    assert (k0.loc["my_merge", "iid_acc"] == k0.loc["parent2", "iid_acc"]).all()  # the plug-in returned parent 2
    # the oracle row is the union model: its IID accuracy is the union_acc target, its fidelity 1, its KL and OOD gap 0
    assert (k0.loc["oracle_union", "iid_acc"] == k0.loc["oracle_union", "union_acc"]).all()
    assert (k0.loc["oracle_union", "fidelity"] == 1).all() and (k0.loc["oracle_union", "kl_to_union"].abs() < 1e-6).all()
    assert (k0.loc["oracle_union", "ood_gap"] == 0).all()
    # the universal baseline is the visible 10-class model for both triplets: a constant, insensitive to its inputs
    w, rows = load_merge_store(tmp_path / "store")
    uni = w[torch.as_tensor((rows.method == "universal").to_numpy())]
    assert torch.equal(uni[0], uni[1])
    assert (k0.loc["universal", "sensitivity_pred"] == 0).all() and (k0.loc["universal", "sensitivity_weights"] == 0).all()
    assert (k0.loc["smallest_superset", "iid_acc"] == k0.loc["universal", "iid_acc"]).all()  # no smaller visible superset here
    assert (k0.loc["average", "sensitivity_weights"] > 0).all()
    # forgetting of C1 for parent 1 is 0 by definition; forward transfer of train_from_theta0 is 0
    assert (k0.loc["parent1", "forgetting_c1"].abs() < 1e-9).all()
    assert (df.loc[df.method == "train_from_theta0", "forward_transfer"].abs() < 1e-9).all()
    meta = df.attrs["meta"]
    assert meta["split_mode"] == "unseen_union" and meta["leaked_test_unions"] == 0 and meta["subsplits"] == {"seen_parents": 1, "unseen_parents": 1}
    assert set(meta["hyperparameters"]) >= {"task_arithmetic", "ties", "dare", "parent_plus_noise"}
    assert {r["method"] for r in meta["tuning"]} >= {"task_arithmetic", "ties"}
    assert len(w) == len(rows) and set(rows["k"]) == {0} and torch.isfinite(w).all()  # store_ks 200, 500 > steps
    s = benchmark_summary(df, held_out_pairs(z, df))
    assert s["split_mode"] == "unseen_union" and s["leaked_test_unions"] == 0 and s["test_pairs"] == [[0, 3]]
    assert set(s["methods"]["average"]) >= {"k0_iid", "k0_ood", "k200_iid", "k0_fidelity", "k0_ood_gap", "k0_kl", "k200_fidelity", "input_sensitivity"}
    rivals = [n for n in s["methods"] if n not in ("transformer_ae", "oracle_union")]
    assert s["best_baseline_k0_rel"] == pytest.approx(max(s["methods"][n]["k0_iid"] for n in rivals) / s["union_acc"], abs=1e-3)
    assert s["best_baseline_k0_fidelity"] == max(s["methods"][n]["k0_fidelity"] for n in rivals)
    assert set(s["subsplits"]) == {"seen_parents", "unseen_parents"} and s["subsplits"]["seen_parents"]["n_triplets"] == 1


def test_cli_runs_and_prints_outputs(zoo, tmp_path, capsys):
    import argparse
    from neuralblitz_lab.merge.benchmark import add_merge_eval_cli
    z, _ = zoo
    parser = argparse.ArgumentParser(); add_merge_eval_cli(parser.add_subparsers())
    args = parser.parse_args(["eval", "--profile", "tiny", "--zoo", str(z.path), "--out", str(tmp_path / "o"), "--no-tune",
                              "--no-progress", "--ks", "0", "--split-mode", "parents"])  # k = 0 only: no fine-tuning
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"summary: {tmp_path / 'o' / 'summary.json'}" in out and "1 test triplets, split mode parents" in out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["n_triplets"] == 1 and summary["hyperparameters"]["ties"] == {} and summary["split_mode"] == "parents"
    assert set(summary["methods"]["average"]) >= {"k0_iid", "k0_ood", "k200_iid", "k200_ood", "steps_to_parents", "steps_to_union"}
    table = pd.read_parquet(tmp_path / "o" / "results.parquet")
    assert set(table["k"]) == {0} and len(table) == table[["method", "triplet", "k"]].drop_duplicates().shape[0]


def test_experiment_runs_in_tiny(tmp_path):
    "The experiment notebook end to end through `nblab reproduce` (tiny: a smoke test on the zoo's one triplet)."
    import subprocess, sys
    nblab = Path(sys.executable).parent / "nblab"
    r = subprocess.run([str(nblab), "reproduce", "--profile", "tiny", "--only", "02_merge_benchmark", "--root", str(tmp_path), "--no-progress"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    figs = tmp_path / "figures" / "02_merge_benchmark"
    for name in ("main_table.csv", "finetuning_curves.html", "class_pair_heatmap.html", "distance_vs_accuracy.html", "k0_iid_accuracy.html",
                 "fidelity_vs_accuracy.html", "split_modes.csv"):
        assert (figs / name).is_file(), name
    table = pd.read_csv(figs / "main_table.csv")
    assert {*CLASSICAL_METHODS, *RETRIEVAL_BASELINES, "parent_plus_noise", "oracle_union", "ensemble"} <= set(table["method"])
