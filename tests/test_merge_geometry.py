"""Issue 24 end to end on the tiny profile's zoo: the bench script's summary (keys, invariants) and the experiment
notebook under papermill; the compact KAN layer against pykan's."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    "The tiny profile's zoo (4 class sets x 2 activations, 2 epochs): only training triplets under the honest split."
    from neuralblitz_lab.zoo.train import build_zoo
    path = tmp_path_factory.mktemp("geo") / "zoos" / "tiny"
    build_zoo(path, "tiny", progress=False, workers=1)
    return path


def test_kan_layer_matches_pykan():
    "refine.KANLayer with a pykan KANLayer's parameters gives pykan's output (pykan is a dev requirement)."
    kan = pytest.importorskip("kan.KANLayer")
    from neuralblitz_lab.merge.refine import KANLayer, bspline_basis
    from kan.spline import B_batch
    torch.manual_seed(0)
    ref = kan.KANLayer(in_dim=3, out_dim=2, num=5, k=3)
    mine = KANLayer(3, 2, 5, 3)
    torch.testing.assert_close(mine.grid, ref.grid.detach(), atol=1e-6, rtol=0)
    with torch.no_grad():
        for name in ("coef", "scale_base", "scale_sp"): getattr(mine, name).copy_(getattr(ref, name))
    x = torch.rand(64, 3) * 2 - 1
    torch.testing.assert_close(bspline_basis(x, mine.grid, 3), B_batch(x, ref.grid, k=3), atol=1e-6, rtol=0)
    torch.testing.assert_close(mine(x), ref(x)[0], atol=1e-6, rtol=1e-5)


def test_experiment_notebook_tiny(tiny_zoo, tmp_path):
    "nbs/experiments/07_weight_geometry.ipynb under papermill on the tiny zoo: its tables, figures and the bench's summary keys."
    import papermill as pm
    out = tmp_path / "fig"
    pm.execute_notebook(str(ROOT / "nbs/experiments/07_weight_geometry.ipynb"), str(tmp_path / "run.ipynb"), cwd=str(ROOT),
                        parameters={"profile": "tiny", "out_dir": str(out), "zoo_dir": str(tiny_zoo)}, progress_bar=False)
    for name in ("finetune_ratios.csv", "refine_summary.csv", "unlearn_summary.csv", "mqps_repair.csv", "claims.csv",
                 "distance_vs_steps.html", "trajectories_pca.html", "mqps_theorem51.html", "mqps_post_merge.html"):
        assert (out / name).is_file(), name
    s = json.loads((out / "summary.json").read_text())
    for key in ("n_triplets", "mse_ratio_after_ft", "wd_ratio_after_ft", "mse_ratio_after_ft_aligned", "wd_ratio_after_ft_aligned",
                "kan_k0_rel", "kan_k0_fidelity", "mlp_k0_rel", "child_k0_rel", "unlearn", "mqps_distortion", "mqps_repair_gain"):
        assert key in s and s[key] is not None, key
    assert s["smoke"] and s["child"] in ("task_arithmetic", "transformer_ae") and s["n_triplets"] == 2
    assert s["wd_ratio_after_ft"] == pytest.approx(s["wd_ratio_after_ft_aligned"], rel=1e-9)  # W1 of values is blind to alignment
    assert set(s["unlearn"]) == {"union", "negation", "subtractor_linear", "subtractor_kan", "head_mask", "finetune_c1_k4", "retrieval"}
    assert s["unlearn"]["head_mask"]["forgotten_acc"] == 0.0  # masked output rows are never predicted
    for m in s["unlearn"].values(): assert {"retained_rel", "forgotten_acc", "never_trained_acc", "fidelity"} <= set(m)
    assert s["refine"]["identity"]["rel_err"] == pytest.approx(1.0) and s["refine"]["finetuned"]["rel_err"] == pytest.approx(0.0)
    assert abs(s["refine"]["kan"]["n_params"] - s["refine"]["mlp"]["n_params"]) / s["refine"]["kan"]["n_params"] < 0.05
    assert s["mqps_distortion"] <= s["mqps_encoder_distance"] + 1e-4  # projection starts at the encoder's guess, never ends above it
