"""Every registered check (neuralblitz_lab.validation.checks.CHECKS) on a passing case built from the lab's objects and
on a planted violation; the NBLAB_VALIDATE switch wired into DNDS."""
import math

import numpy as np
import pytest
import torch

from neuralblitz_lab.cnn import init_params, params_to_flat
from neuralblitz_lab.memory.dnds import DNDS, soft_assign
from neuralblitz_lab.merge import classical as mc
from neuralblitz_lab.validation import checks as vc

G = torch.Generator().manual_seed(0)
W1 = params_to_flat(init_params("kaiming_uniform", seed=1)).double()
W2 = params_to_flat(init_params("kaiming_uniform", seed=2)).double()
X = torch.rand(32, 1, 28, 28, generator=G, dtype=torch.float64)


def _sinkhorn():
    x, y = torch.randn(12, 2, generator=G), torch.randn(15, 2, generator=G)
    trace, plan = vc.sinkhorn_dual_trace(x, y, eps=0.5, n_iter=25)
    a, b = torch.full((12,), 1 / 12, dtype=torch.float64), torch.full((15,), 1 / 15, dtype=torch.float64)
    return trace, plan, a, b


def _kfac():
    a = torch.randn(40, 6, generator=G, dtype=torch.float64); s = torch.randn(40, 4, generator=G, dtype=torch.float64)
    return a.T @ a / 40, s.T @ s / 40


def _clouds():
    x = torch.randn(20, 3, generator=G).numpy()
    return x, x + 0.01 * np.random.default_rng(0).standard_normal(x.shape)


def _picard():
    from neuralblitz_lab.dynamics.fixed_points import picard
    Wc = torch.randn(5, 5, generator=G, dtype=torch.float64); Wc = 0.7 * Wc / torch.linalg.matrix_norm(Wc, 2)
    return picard(lambda v: torch.tanh(v @ Wc.T) + 0.2, torch.randn(5, generator=G, dtype=torch.float64), max_iter=40, tol=1e-12).residuals


def _zip(a, b):  # 32 images: with fewer, dead (constant) features tie in the greedy pairing and labels can matter
    return torch.stack([mc.zipit_merge_one(a[0], b[0], X, "relu")])


def _bad_write(k, v, C, W, tau, eta): return W + eta * soft_assign(k, C, tau).T @ v  # stores v, not the residual


def _dnds_args():
    return torch.randn(1, 3, generator=G), torch.randn(1, 2, generator=G), torch.randn(6, 3, generator=G), torch.randn(6, 2, generator=G), 0.8, 0.6


CASES = {  # name -> (passing call, planted violation)
    "finite": (lambda: vc.check_finite(torch.ones(4)), lambda: vc.check_finite(torch.tensor([0.0, math.inf]))),
    "symmetric": (lambda: vc.check_symmetric(torch.eye(3)), lambda: vc.check_symmetric(torch.triu(torch.ones(3, 3)))),
    "psd": (lambda: vc.check_psd(torch.exp(-torch.cdist(X.flatten(1), X.flatten(1)) ** 2 / 50)),
            lambda: vc.check_psd(torch.exp(-torch.cdist(torch.linspace(0, 3, 12)[:, None], torch.linspace(0, 3, 12)[:, None]) ** 3))),
    "kfac": (lambda: vc.check_kfac(*_kfac()), lambda: vc.check_kfac(_kfac()[0], -_kfac()[1])),
    "monotone": (lambda: vc.check_monotone(_sinkhorn()[0], increasing=True, tol=1e-12),
                 lambda: vc.check_monotone(_sinkhorn()[0], increasing=False)),
    "marginals": (lambda: vc.check_marginals(*_sinkhorn()[1:], tol=1e-3), lambda: vc.check_marginals(1.5 * _sinkhorn()[1], *_sinkhorn()[2:])),
    "contraction_residuals": (lambda: vc.check_contraction_residuals(_picard(), 0.7), lambda: vc.check_contraction_residuals(_picard(), 0.01)),
    "contraction": (lambda: vc.check_contraction(lambda v: 0.5 * torch.tanh(v), X, X + 0.1),
                    lambda: vc.check_contraction(lambda v: 1.5 * v, X, X + 0.1)),
    "bottleneck_stability": (lambda: vc.check_bottleneck_stability(*vc.rips_pair(*_clouds())),
                             lambda: vc.check_bottleneck_stability(*vc.rips_pair(_clouds()[0] * 4, _clouds()[1])[:2], vc.rips_pair(*_clouds())[2])),
    "permutation_invariance": (lambda: vc.check_permutation_invariance(W1, "silu", X, tol=1e-10),
                               lambda: vc.check_permutation_invariance(W1, "silu", X, permute=lambda w, p: w + 0.05)),
    "rescaling_invariance": (lambda: vc.check_rescaling_invariance(W1, "relu", X, tol=1e-10),
                             lambda: vc.check_rescaling_invariance(W1, "sigmoid", X, tol=1e-10)),
    "merge_equivariance": (lambda: vc.check_merge_equivariance(lambda a, b: mc.ties_merge(a, b, torch.zeros_like(a), 0.5, 1.0), W1, W2),
                           lambda: vc.check_merge_equivariance(lambda a, b: mc.dare_merge(a, b, torch.zeros_like(a), 0.5, 1.0), W1, W2)),
    "merge_invariance": (lambda: vc.check_merge_invariance(_zip, W1, W2, "relu", X, tol=1e-6),
                         lambda: vc.check_merge_invariance(lambda a, b: mc.task_arithmetic_merge(a, b, torch.zeros_like(a), 1.0), W1, W2, "relu", X)),
    "read_after_write": (lambda: vc.check_read_after_write(*_dnds_args()), lambda: vc.check_read_after_write(*_dnds_args(), write=_bad_write)),
}


def test_every_registered_check_has_cases():
    assert set(CASES) == set(vc.CHECKS) and len(vc.CHECKS) >= 12


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_passes_and_catches_its_planted_violation(name):
    ok, bad = CASES[name]
    res = ok()
    assert isinstance(res, vc.CheckResult) and res.check == name
    with pytest.raises(vc.ValidationError):
        bad()


def test_merge_invariance_gaps_are_measured_not_asserted():
    gaps = {n: vc.merge_invariance_gap(f, W1, W2, "relu", X) for n, f in (("average", mc.average_merge), ("zipit", _zip))}
    assert gaps["zipit"] < 1e-6 < gaps["average"]
    rep = vc.monotonicity_report([3.0, 1.0, 2.0, 0.5])
    assert rep["n_increases"] == 1 and rep["max_increase"] == 1.0


def test_switch_runs_checks_inside_dnds(monkeypatch):
    mem = DNDS(3, 2, 4, seed=0)
    mem.memory_bank = torch.full((4, 2), math.nan)
    monkeypatch.setenv(vc.ENV_VAR, "0")
    assert torch.isnan(mem.read(torch.zeros(3))).all()  # off: no check
    monkeypatch.setenv(vc.ENV_VAR, "finite,read_after_write")
    with pytest.raises(vc.ValidationError, match="DNDS.read has 2 non-finite"):
        mem.read(torch.zeros(3))
    mem.reset(); mem.write(torch.zeros(3), torch.ones(2))  # the write's identity check passes on a healthy bank
    monkeypatch.setenv(vc.ENV_VAR, "all")
    assert len(vc.run_checks(("finite", "psd"), torch.eye(2))) == 2


def test_full_batch_gradient_descent_is_monotone_and_a_huge_step_is_caught():
    x, y = X[:24], torch.randint(10, (24,), generator=torch.Generator().manual_seed(1))
    vc.check_monotone(vc.gradient_descent_trace(W1, "relu", x, y, lr=0.005, n_steps=8), name="GD")
    with pytest.raises(vc.ValidationError, match="GD is not non-increasing"):
        vc.check_monotone(vc.gradient_descent_trace(W1, "relu", x, y, lr=50.0, n_steps=6), name="GD")
