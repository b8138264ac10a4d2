"""Issue 26 end to end: a zoo built with the spectral inits, the report's six inits unchanged, the isometry probe on a
zoo's checkpoints, Hodge Betti numbers of activation clouds beside persistence, a Poincaré embedding of a tree-shaped
lattice, Tucker compression of trained CNNs, and the experiment notebook under the tiny profile."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from neuralblitz_lab.cnn import CNN_SPEC, SPECTRAL_INIT_NAMES, init_params
from neuralblitz_lab.core import Profile
from neuralblitz_lab.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]


def test_a_zoo_builds_with_the_spectral_inits(tmp_path):
    from neuralblitz_lab.zoo.store import Zoo
    from neuralblitz_lab.zoo.train import build_zoo
    prof = Profile("tiny", "tiny, spectral inits", images_per_class=20, zoo_experiences="tiny", zoo_activations=("relu",),
                   zoo_inits=SPECTRAL_INIT_NAMES, max_epochs=2, epoch_bins=(1, 2))
    build_zoo(tmp_path / "z", prof, workers=1, progress=False)
    zoo = Zoo(tmp_path / "z").filter(final_only=True)
    assert sorted(zoo.index.init.unique()) == sorted(SPECTRAL_INIT_NAMES) and len(zoo.index) == 3 * 4
    assert zoo.weights().shape == (12, 2464) and zoo.index.test_acc.between(0, 1).all()


def test_the_reports_six_inits_draw_what_torch_draws():
    "The registry's new entries leave the six as they were: torch's nn.init fills, layer by layer from one generator."
    fills = {"xavier_uniform": nn.init.xavier_uniform_, "xavier_normal": nn.init.xavier_normal_,
             "kaiming_normal": nn.init.kaiming_normal_, "kaiming_uniform": nn.init.kaiming_uniform_,
             "uniform": lambda w, generator: nn.init.uniform_(w, -0.1, 0.1, generator=generator),
             "normal": lambda w, generator: nn.init.normal_(w, 0.0, 0.1, generator=generator)}
    for name, fill in fills.items():
        g = torch.Generator().manual_seed(7)
        ref = {l.name: fill(torch.empty(l.weight_shape), generator=g) for l in CNN_SPEC.layers}
        got = init_params(name, 7)
        assert all(torch.equal(got[f"{k}.weight"], v) for k, v in ref.items()), name


def test_isometry_of_checkpoints_and_cells():
    from neuralblitz_lab.spectra.isometry import cell_spearman, jacobian_isometry, train_cells
    ds = load_dataset("tiny")
    w, rows = train_cells(["tanh"], ["normal", "kaiming_normal", "mp_matched"], [(0, 1, 2)], ds, epochs=2)
    from neuralblitz_lab.cnn import flat_to_params
    st = jacobian_isometry(flat_to_params(w), ds.images[:6], "tanh")
    assert len(st) == len(rows) and np.isfinite(st.to_numpy()).all() and (st.chi > 0).all()
    at_init = pd.DataFrame(dict(activation="tanh", init=["normal", "kaiming_normal", "mp_matched"], **{c: [1.0, 2.0, 3.0] for c in st.columns}))
    rho = cell_spearman(at_init, rows[rows.is_final].rename(columns={"test_acc": "acc"}), "acc")
    assert rho.n_cells.eq(3).all() and rho.rho.between(-1, 1).all()


def test_hodge_betti_of_activation_clouds_equal_persistence():
    from neuralblitz_lab.topology.hodge import cloud_hodge
    from neuralblitz_lab.topology.zoo import layer_activations
    from neuralblitz_lab.cnn import params_to_flat
    ds = load_dataset("tiny")
    w = torch.stack([params_to_flat(init_params(i, 0)) for i in ("kaiming_uniform", "orthogonal", "xavier_normal")])
    with torch.no_grad(): clouds = layer_activations(w, "relu", ds.images[:40])  # (3, 40, 20)
    for q in (0.05, 0.2):
        h = cloud_hodge(clouds.double().numpy(), quantile=q, max_dim=1)
        assert (h.betti_0 == h.pers_betti_0).all() and (h.betti_1 == h.pers_betti_1).all(), h


def test_poincare_embeds_a_tree_lattice():
    "Chains of sets from one root: a tree under inclusion; a 2-d Poincaré embedding reconstructs it (MAP 1)."
    from neuralblitz_lab.zoo.lattice import embed_lattice, inclusion_matrix, reconstruction
    sets = [(0, 1), (0, 1, 2), (0, 1, 2, 3), (0, 1, 4), (0, 1, 4, 5), (0, 1, 6)]
    R = inclusion_matrix(sets)
    emb = embed_lattice(R, dims=(2,), manifold="poincare", epochs=60, batch_size=4, n_negatives=3)
    assert reconstruction(emb, R)["map"].item() > 0.95


def test_tucker_curves_of_trained_cnns():
    from neuralblitz_lab.spectra.isometry import train_cells
    from neuralblitz_lab.spectra.tucker import compress_models, model_accuracy, ratio_at_drop
    ds = load_dataset("tiny")
    w, rows = train_cells(["relu"], ["kaiming_uniform"], [(0, 1), (2, 3)], ds, epochs=2)
    fin = torch.from_numpy(rows.is_final.to_numpy(dtype=bool).copy()); w, rows = w[fin], rows[rows.is_final]
    acts, cls = rows.activation.tolist(), rows.classes.tolist()
    base = model_accuracy(w, acts, cls, ds)
    np.testing.assert_allclose(base, rows.test_acc.to_numpy(), atol=1e-6)  # the zoo's own test accuracy
    curve = [(info["ratio"], model_accuracy(cw, acts, cls, ds).mean()) for f in (1.0, 0.5, 0.1)
             for cw, info in [compress_models(w, "prune", f)]]
    assert curve[0] == (1.0, base.mean()) and curve[1][0] > 1.9 and curve[2][0] > 9
    r = ratio_at_drop([c[0] for c in curve], [c[1] for c in curve], base.mean())
    assert np.isnan(r) or 1.0 <= r <= curve[2][0]


def test_experiment_runs_in_tiny(tmp_path):
    r = subprocess.run([str(Path(sys.executable).parent / "nblab"), "reproduce", "--profile", "tiny", "--only", "09_structure_report",
                        "--root", str(tmp_path), "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    figs = tmp_path / "figures/09_structure_report"
    summary = json.loads((figs / "summary.json").read_text())
    assert summary["hodge_complexes"] == 27 and summary["hodge_mismatches"] == 0
    assert set(summary["poincare_map"]) == set(summary["euclid_map"]) == {"2", "3"}
    for name in ("isometry_at_init.csv", "hodge_vs_gudhi.csv", "lattice_reconstruction.csv", "tucker_curves.csv",
                 "isometry_during_training.html", "lattice_poincare_vs_euclidean.html", "tucker_accuracy_vs_compression.html"):
        assert (figs / name).is_file(), name
