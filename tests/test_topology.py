"""Topology integration tests: Betti numbers of known shapes, distances against an independent assignment, invariances,
the multipers pin (probed in a subprocess: a segfault must not take pytest down), the zoo engine on real zoo weights."""
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from neuralblitz_lab.cnn import flat_to_params, init_zoo_params, params_to_flat
from neuralblitz_lab.topology.persistence import (alpha_diagrams, betti_numbers, bottleneck, diagrams, hilbert_function, max_persistence,
                                      multipers_available, multipers_hilbert, neural_persistence, neuron_clouds, sample_shape,
                                      sliced_wasserstein, total_persistence, wasserstein)
from neuralblitz_lab.topology.zoo import model_features, weights_topology

torch.set_num_threads(1)


@pytest.mark.parametrize("shape,n,noise,maxdim,thr,expected", [
    ("circle", 120, 0.05, 1, 0.5, [1, 1]), ("figure_eight", 200, 0.03, 1, 0.4, [1, 2]),
    ("sphere", 200, 0.02, 2, 0.5, [1, 0, 1])])
def test_betti_rips(shape, n, noise, maxdim, thr, expected):
    for seed in (0, 5):
        assert betti_numbers(diagrams(sample_shape(shape, n, noise, seed=seed), maxdim=maxdim, infinite=True), thr) == expected


def test_betti_torus_alpha():
    assert betti_numbers(alpha_diagrams(sample_shape("torus", 1500, 0.02, seed=7), infinite=True), 0.4) == [1, 2, 1]


def _ref_wasserstein(a, b):
    n, m = len(a), len(b); C = np.zeros((n + m, n + m))
    C[:n, :m] = np.abs(a[:, None] - b[None]).max(-1)
    C[:n, m:] = ((a[:, 1] - a[:, 0]) / 2)[:, None]; C[n:, :m] = ((b[:, 1] - b[:, 0]) / 2)[None]
    r, c = linear_sum_assignment(C); return C[r, c].sum(), C


def test_distances_on_random_diagrams():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a, b = [np.c_[x, x + rng.exponential(0.4, len(x))] for x in (rng.uniform(0, 1, rng.integers(1, 9)), rng.uniform(0, 1, rng.integers(1, 9)))]
        w, C = _ref_wasserstein(a, b)
        assert abs(wasserstein(a, b) - w) < 1e-6
        # bottleneck: smallest t such that a perfect matching uses only edges <= t
        t_ref = min(t for t in np.unique(C) if (lambda rc: (C[rc] <= t).all())(linear_sum_assignment(np.where(C <= t, 0.0, 1.0))))
        assert abs(bottleneck(a, b) - t_ref) < 1e-6
        assert bottleneck(a, b) <= wasserstein(a, b) + 1e-12


def test_sliced_wasserstein_gradient_matches_finite_differences():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(6, 2, generator=g, dtype=torch.float64); a[:, 1] += a[:, 0]; a.requires_grad_(True)
    b = torch.rand(4, 2, generator=g, dtype=torch.float64); b[:, 1] += b[:, 0]
    sliced_wasserstein(a, b, 32).backward()
    h, fd = 1e-6, torch.zeros_like(a)
    for i in range(6):
        for j in range(2):
            e = torch.zeros_like(a); e[i, j] = h
            fd[i, j] = (sliced_wasserstein(a.detach() + e, b, 32) - sliced_wasserstein(a.detach() - e, b, 32)) / (2 * h)
    assert torch.allclose(a.grad, fd, atol=1e-6)
    assert abs(sliced_wasserstein(np.array([[0, 1.]]), np.zeros((0, 2)), 4000) - math.sqrt(2) / math.pi) < 1e-6


def test_invariances_on_real_shaped_weights():
    w = params_to_flat(init_zoo_params("kaiming_uniform", 2, seed=4))
    p = flat_to_params(w.clone()); perm = torch.randperm(20, generator=torch.Generator().manual_seed(1))
    p["fc1.weight"], p["fc1.bias"], p["fc2.weight"] = p["fc1.weight"][:, perm], p["fc1.bias"][:, perm], p["fc2.weight"][:, :, perm]
    wp = params_to_flat(p)
    for name in ("fc1", "fc2"):
        for d0, d1 in zip(diagrams(neuron_clouds(w)[name][0]), diagrams(neuron_clouds(wp)[name][0])):
            assert np.allclose(d0, d1, atol=1e-6)
    assert np.allclose(neural_persistence(w).to_numpy(), neural_persistence(wp).to_numpy())
    assert np.allclose(neural_persistence(torch.full((1, 2464), -0.7)).to_numpy(), 0.0)


def test_exported_names_for_other_modules():
    d = diagrams(sample_shape("circle", 60, 0.01), maxdim=1)
    assert len(d) == 2 and all(x.shape[1] == 2 for x in d)
    assert max_persistence(d[1]) > 1.0 and total_persistence(d[1]) >= max_persistence(d[1])


def test_multipers_pin_in_subprocess():
    "multipers 2.3.2 + gudhi 3.11.0 build a Rips x lower-star signed measure; checked in a child process (segfault-safe)."
    code = ("import gudhi, multipers, numpy as np; from neuralblitz_lab.topology.persistence import multipers_hilbert, hilbert_function;"
            "X = np.random.default_rng(2).normal(size=(14, 4)); f = np.linalg.norm(X, axis=1);"
            "r = np.quantile(np.linalg.norm(X[:, None] - X[None], axis=-1), np.linspace(0.1, 1, 7)); t = np.quantile(f, [0.3, 0.6, 1]);"
            "assert (multipers_hilbert(X, f, r, t) == hilbert_function(X, f, r, t)).all(); print(gudhi.__version__, multipers.__version__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"rc={r.returncode}: {r.stderr[-800:]}"
    assert r.stdout.split() == ["3.11.0", "2.3.2"]
    assert multipers_available()


def test_zoo_engine_parallel_equals_serial():
    w = params_to_flat(init_zoo_params("kaiming_uniform", 6, seed=2))
    x = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    acts = ["relu", "gelu", "gelu", "relu", "relu", "gelu"]
    par = weights_topology(w, acts, x, n_jobs=2, chunk_size=2, progress=False)
    assert np.allclose(par.to_numpy(), model_features(w, acts, x).to_numpy(), atol=1e-4)
    assert (par["fc1_h0_total"] > 0).all() and (par["np_mean"].between(0, 1)).all()
