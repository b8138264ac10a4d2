"""zoo_stats on a stored zoo: a synthetic zoo written with ZooWriter (known accuracies, early stops, several activations and
inits), read with Zoo, analysed with zoo_stats, and the zoo-report experiment run end to end on it with papermill."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps

from neuralblitz_lab.cnn import N_PARAMS, layer_slices
from neuralblitz_lab.core import DataError
from neuralblitz_lab.zoo.store import EPOCH_BINS, MAX_EPOCHS, Zoo, ZooWriter
from neuralblitz_lab.zoo.stats import (accuracy_table, carry_forward, correlation_summary, layer_correlation, layer_statistics,
                                       layer_summary, log10_abs_histograms)

ROOT = Path(__file__).resolve().parents[1]
ACTS, INITS = ("gelu", "relu", "tanh"), ("kaiming_uniform", "normal")
EXPERIENCES = [(0, 1), (2, 3), (4, 5), (0, 1, 2, 3)]


def fake_models(rng):
    "Index rows and weights of one model per (activation, init, experience): a row per bin reached, the last final."
    rows = []
    for m, (act, init, exp) in enumerate((a, i, e) for a in ACTS for i in INITS for e in EXPERIENCES):
        stop = int(rng.integers(EPOCH_BINS[0], MAX_EPOCHS + 1))
        bins = [b for b in EPOCH_BINS if b <= stop]
        for b in bins:
            acc = float(rng.integers(0, 101)) / 100  # exact hundredths: medians are easy to recompute
            rows.append(dict(model_id=m, classes=list(exp), n_classes=len(exp), activation=act, init=init, seed=m, bin=b,
                             epoch=stop if b == bins[-1] else b, is_final=b == bins[-1], train_acc=acc, val_acc=acc,
                             test_acc=acc, train_loss=1.0, val_loss=1.0, test_loss=1.0, confusion=[1] * 100))
    weights = rng.standard_normal((len(rows), N_PARAMS)).astype(np.float32) * 0.1
    return torch.from_numpy(weights), pd.DataFrame(rows)


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("zoo")
    w, rows = fake_models(np.random.default_rng(0))
    writer = ZooWriter(path, {"profile": "test"})
    for act in ACTS:  # a shard per activation
        keep = (rows.activation == act).to_numpy()
        writer.write_shard(f"{act}-part0", w[torch.tensor(keep)], rows[keep])
    writer.finalize(data_fingerprint="fake-data")
    return path


def test_accuracy_table_of_a_stored_zoo(zoo_dir):
    final = Zoo(zoo_dir).filter(final_only=True).index
    table = accuracy_table(final, by=["activation", "init"])
    assert len(table) == len(ACTS) * len(INITS) and (table.n_models == len(EXPERIENCES)).all()
    for _, r in table.iterrows():  # every cell against its own models, picked by hand
        accs = sorted(final.test_acc[(final.activation == r.activation) & (final.init == r.init)])
        assert r.median_test_acc == pytest.approx((accs[1] + accs[2]) / 2)  # four models: the mean of the middle two
        assert (r.min_test_acc, r.max_test_acc) == (accs[0], accs[-1])


def test_carry_forward_fills_every_bin(zoo_dir):
    zoo = Zoo(zoo_dir)
    cf = carry_forward(zoo.index, zoo.epoch_bins)
    n_models = zoo.index.model_id.nunique()
    assert len(cf) == n_models * len(EPOCH_BINS)  # every model reaches the first bin, so every bin gets every model
    assert cf.stored.sum() == len(zoo.index)
    final = zoo.index[zoo.index.is_final].set_index("model_id")
    carried = cf[~cf.stored]
    assert (carried.test_acc.to_numpy() == final.loc[carried.model_id, "test_acc"].to_numpy()).all()
    assert (carried.bin.to_numpy() > final.loc[carried.model_id, "bin"].to_numpy()).all()


def test_layer_statistics_agree_with_the_params_dict(zoo_dir):
    final = Zoo(zoo_dir).filter(final_only=True)
    stats = layer_statistics(final.weights(), index=final.index)
    params = final.params()  # the same weights, reshaped per tensor by cnn.flat_to_params
    assert len(stats) == len(final) * len(layer_slices())
    for name, p in params.items():
        x = p.reshape(len(final), -1).double().numpy()
        got = stats[stats.layer == name]
        np.testing.assert_allclose(got["mean"], x.mean(1), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got["kurtosis"], sps.kurtosis(x, axis=1), rtol=1e-9)
        assert (got.model_id.to_numpy() == final.index.model_id.to_numpy()).all()
    summary = layer_summary(stats, by=["activation"])
    assert len(summary) == len(ACTS) * len(layer_slices()) and (summary.n_models == len(INITS) * len(EXPERIENCES)).all()
    with pytest.raises(DataError, match="index has 3 rows"):
        layer_statistics(final.weights(), index=final.index.iloc[:3])


def test_histograms_and_correlations_of_a_stored_zoo(zoo_dir):
    final = Zoo(zoo_dir).filter(final_only=True)
    w, acts = final.weights(), final.index.activation
    hist = log10_abs_histograms(w, acts)
    assert np.allclose(hist.groupby(["group", "layer"]).share.sum(), 1.0)
    relu = final.filter(activation="relu").weights().double().numpy()
    c = layer_correlation(final.filter(activation="relu").weights(), "fc2.weight")
    np.testing.assert_allclose(c, np.corrcoef(relu[:, layer_slices()["fc2.weight"]], rowvar=False), atol=1e-10)
    cs = correlation_summary(w, acts)
    assert cs.group.unique().tolist() == sorted(ACTS) and cs.between_unit_abs_r.between(0, 1).all()


def test_zoo_report_runs_on_a_stored_zoo(zoo_dir, tmp_path):
    "The experiment notebook, run by papermill on the synthetic zoo: its required table and every figure are written."
    import papermill as pm
    out = tmp_path / "figures"
    pm.execute_notebook(str(ROOT / "nbs/experiments/01_zoo_report.ipynb"), str(tmp_path / "run.ipynb"), cwd=str(ROOT),
                        parameters={"profile": "tiny", "out_dir": str(out), "zoo_dir": str(zoo_dir)}, progress_bar=False)
    table = pd.read_csv(out / "accuracy_by_activation_init.csv")
    expected = accuracy_table(Zoo(zoo_dir).filter(final_only=True).index, by=["activation", "init"])
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
    for name in ("accuracy_heatmap", "accuracy_by_n_classes", "accuracy_over_bins", "layer_mean", "layer_std", "layer_kurtosis",
                 "log10_abs_histograms", "correlation_conv1", "correlation_fc2"):
        assert (out / f"{name}.html").is_file(), name
    for name in ("accuracy_by_n_classes", "accuracy_by_bin_stored", "accuracy_by_bin_carried_forward", "layer_statistics",
                 "correlation_summary"):
        assert (out / f"{name}.csv").is_file() and (out / f"{name}.md").is_file(), name
