"""Fixed-point toolkit on maps with known answers: linear contractions, a tanh layer, a repelling point, training stages."""
import math
import warnings

import pytest
import torch

from neuralblitz_lab.cnn import init_zoo_params
from neuralblitz_lab.data import load_dataset
from neuralblitz_lab.dynamics.fixed_points import (StageConfig, anderson, basin_estimate, classify_fixed_point, picard, run_stage,
                                          spectral_radius, stage_summary, unified_objective)


def contraction(n=100, rho=0.98, seed=0):
    "f(x) = A x + b with A symmetric, spectrum in [-rho, rho] (rho attained), and its fixed point (I - A)^-1 b."
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    eigs = torch.linspace(-rho, rho, n, dtype=torch.float64)
    A, b = Q @ torch.diag(eigs) @ Q.T, torch.randn(n, generator=g, dtype=torch.float64)
    return (lambda x: A @ x + b), torch.linalg.solve(torch.eye(n, dtype=torch.float64) - A, b)


@pytest.mark.parametrize("rho", [0.9, 0.98])
def test_anderson_beats_picard_and_both_hit_the_analytic_fixed_point(rho):
    f, x_star = contraction(rho=rho)
    x0 = torch.zeros_like(x_star)
    p, a = picard(f, x0, max_iter=5000, tol=1e-10), anderson(f, x0, m=10, max_iter=5000, tol=1e-10)
    assert p.converged and a.converged
    assert torch.allclose(p.x, x_star, atol=1e-7) and torch.allclose(a.x, x_star, atol=1e-7)
    assert abs(p.rate - rho) < 5e-3, p.rate  # residual contracts by rho(A) per plain step
    assert a.n_iter * 3 < p.n_iter, (a.n_iter, p.n_iter)


def test_power_iteration_matches_eigenvalues_of_a_tanh_layer():
    g = torch.Generator().manual_seed(3)
    W = torch.randn(40, 40, generator=g, dtype=torch.float64) / math.sqrt(40) * 0.8  # non-symmetric
    f = lambda x: torch.tanh(W @ x)  # fixed point 0, Jacobian W there
    exact = torch.linalg.eigvals(W).abs().max().item()
    assert abs(spectral_radius(f, torch.zeros(40, dtype=torch.float64), n_iter=400) - exact) < 0.02 * exact
    assert abs(spectral_radius(f, torch.zeros(40, dtype=torch.float64), method="exact") - exact) < 1e-10


def test_repelling_point_is_classified_and_has_no_basin():
    f = lambda x: x + 0.5 * torch.sin(x)  # fixed points k*pi; f'(0) = 1.5 (repelling), f'(pi) = 0.5 (attracting)
    assert classify_fixed_point(spectral_radius(f, torch.zeros(3))) == "repelling"
    pi = torch.full((3,), math.pi)
    assert classify_fixed_point(spectral_radius(f, pi)) == "attracting"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b0 = basin_estimate(f, torch.zeros(3), radii=[0.1], n_starts=5, max_iter=100)
        bpi = basin_estimate(f, pi, radii=[0.1], n_starts=5, max_iter=100)
    assert b0["returned"].item() == 0.0 and bpi["returned"].item() == 1.0


def test_unified_objective_gradient_matches_cross_entropy_when_alpha_uses_one_hot():
    logits = torch.randn(8, 5, requires_grad=True); y = torch.randint(5, (8,))
    g1 = torch.autograd.grad(unified_objective(logits, y, alpha=0.7), logits)[0]
    g2 = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y), logits)[0]
    assert torch.allclose(g1, g2, atol=1e-6)


def test_stage_displacement_never_exceeds_path_length():
    ds = load_dataset("tiny")
    _, traj = run_stage(init_zoo_params("kaiming_uniform", 2, seed=0), ds, [(0, 1), (4, 5)], "relu",
                        StageConfig("perturbed", label_noise=0.3, weight_noise=0.2, steps=12, eval_every=4), seed=1)
    s = stage_summary(traj)
    assert (s["displacement"] <= s["path_length"] + 1e-5).all()
    last = traj[traj.step == 12]
    cum = traj.groupby("model")["step_norm"].sum()
    assert (last.set_index("model")["dist_from_start"] <= cum + 1e-5).all()
