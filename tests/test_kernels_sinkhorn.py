"""Online Sinkhorn: the Triton kernels against the dense reference, geomloss and POT (interpreter on CPU, or CUDA)."""
import os

import pytest
import torch

from neuralblitz_lab.core import ConfigError
from neuralblitz_lab.kernels.sinkhorn import entropic_ot, plan_sums, plan_sums_ref, sinkhorn_divergence, softmin, softmin_ref, sq_cost

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _need_triton(device):
    if device == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("the Triton path on CPU needs TRITON_INTERPRET=1 (set by `make test` and the CI command)")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(1, 1, 1), (50, 33, 64), (17, 40, 130)])
def test_softmin_and_plan_sums(device, shape):
    _need_triton(device)
    n, m, d = shape
    g = torch.Generator().manual_seed(d)
    x, y = torch.randn(n, d, generator=g).to(device), torch.randn(m, d, generator=g).to(device)
    h = torch.randn(m, generator=g).to(device); eps = 0.3 * d
    torch.testing.assert_close(softmin(x, y, h, eps, backend="triton"), softmin_ref(x, y, h, eps), rtol=1e-4, atol=1e-4 * d)
    al, be = torch.randn(1, n, generator=g).to(device) - 2, torch.randn(1, m, generator=g).to(device) - 2
    for a, b in zip(plan_sums(x, y, y, al, be, eps, backend="triton"), plan_sums_ref(x, y, y, al, be, eps)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * (1 + b.abs().max().item()))


@pytest.mark.parametrize("device", DEVICES)
def test_divergence_matches_geomloss_value_and_gradient(device):
    _need_triton(device)
    from geomloss import SamplesLoss
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(41, 5, generator=g).to(device), (torch.randn(23, 5, generator=g) + 0.7).to(device)
    b = torch.rand(23, generator=g).to(device) + 0.2; b = b / b.sum()
    xs, ys = x.clone().requires_grad_(), y.clone().requires_grad_()
    val = sinkhorn_divergence(xs, ys, None, b, blur=0.2, scaling=0.8, backend="triton")
    xr, yr = x.clone().requires_grad_(), y.clone().requires_grad_()
    ref = SamplesLoss("sinkhorn", p=2, blur=0.2, scaling=0.8, backend="tensorized")(torch.full((41,), 1 / 41, device=device), xr, b, yr)
    assert abs(val.item() - ref.item()) <= 1e-4 * abs(ref.item())
    for a, r in zip(torch.autograd.grad(val, (xs, ys)), torch.autograd.grad(ref, (xr, yr))):
        torch.testing.assert_close(a, r, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_divergence_of_a_translate_is_half_the_squared_shift(device):
    "For a translated cloud, W2²/2 = |t|²/2, and the debiased divergence tends to it as blur -> 0."
    _need_triton(device)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(60, 2, generator=g).to(device); t = torch.tensor([0.3, -0.4], device=device)
    val = sinkhorn_divergence(x, x + t, blur=0.02, scaling=0.7, backend="triton").item()
    assert abs(val - 0.5 * 0.25) < 0.01 * 0.125


@pytest.mark.parametrize("device", DEVICES)
def test_entropic_ot_matches_pot(device):
    _need_triton(device)
    import ot
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(30, 4, generator=g).to(device), torch.randn(45, 4, generator=g).to(device)
    cost, f, gg = entropic_ot(x, y, eps=1.0, n_iter=50, backend="triton")
    a, b = torch.full((30,), 1 / 30, device=device), torch.full((45,), 1 / 45, device=device)
    ref = ot.sinkhorn2(a.double(), b.double(), sq_cost(x.double(), y.double()), 1.0, method="sinkhorn_log", numItermax=50, stopThr=0)
    assert abs(cost.item() - float(ref)) <= 1e-4 * float(ref)


def test_bad_inputs():
    x = torch.zeros(3, 2)
    with pytest.raises(ConfigError, match="blur=0 must be > 0"): sinkhorn_divergence(x, x + 1, blur=0)
    with pytest.raises(ConfigError, match="weights <= 0"): sinkhorn_divergence(x, x, a=torch.tensor([1., 0., 0.]), b=torch.tensor([1., 0., 0.]))
    with pytest.raises(ConfigError, match="pass floating-point"): sinkhorn_divergence(x.long(), x.long())
    with pytest.raises(ConfigError, match="n_iter=0 must be >= 1"): entropic_ot(x, x, n_iter=0)
