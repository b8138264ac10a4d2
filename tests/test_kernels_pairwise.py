"""Pairwise distances and radius graphs: the Triton kernels (interpreter on CPU, the GPU on CUDA) against the reference."""
import os

import pytest
import torch

from neuralblitz_lab.core import ConfigError
from neuralblitz_lab.kernels.pairwise import METRICS, pairwise_distances, pairwise_distances_ref, radius_graph, radius_graph_ref

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
TOL = {torch.float32: 1e-4, torch.bfloat16: 2e-2, torch.float16: 5e-3}  # max error / max distance


def _need_triton(device):
    if device == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("the Triton path on CPU needs TRITON_INTERPRET=1 (set by `make test` and the CI command)")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("shape", [(1, 1, 1), (33, 65, 17), (64, 3, 129)])
def test_dense_matches_reference(device, dtype, shape):
    _need_triton(device)
    n, m, d = shape
    g = torch.Generator().manual_seed(n * m + d)
    x, y = torch.randn(n, d, generator=g).to(device, dtype), torch.randn(m, d, generator=g).to(device, dtype)
    for metric in METRICS:
        ref = pairwise_distances_ref(x.double(), y.double(), metric)
        got = pairwise_distances(x, y, metric, backend="triton")
        assert got.shape == (n, m) and got.device.type == device
        assert (got.double() - ref).abs().max() <= TOL[dtype] * max(ref.abs().max().item(), 1e-6), (metric, dtype)


@pytest.mark.parametrize("device", DEVICES)
def test_non_contiguous_rows_and_backward(device):
    _need_triton(device)
    g = torch.Generator().manual_seed(0)
    base = torch.randn(12, 40, generator=g).to(device)
    x = base[:, ::2].requires_grad_()  # strided view (12, 20)
    y = torch.randn(9, 20, generator=g).to(device).requires_grad_()
    w = torch.randn(12, 9, generator=g).to(device)
    for metric in METRICS:
        gk = torch.autograd.grad((pairwise_distances(x, y, metric, backend="triton") * w).sum(), (x, y))
        gr = torch.autograd.grad((pairwise_distances_ref(x, y, metric) * w).sum(), (x, y))
        for a, b in zip(gk, gr): torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_radius_graph_matches_dense_threshold(device):
    _need_triton(device)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(150, 2, generator=g).to(device); y = torch.rand(61, 2, generator=g).to(device)
    for yy, self_graph in ((None, True), (y, False), (x, False)):
        ei, dist = radius_graph(x, 0.12, yy, backend="triton", capacity=7)  # capacity far too small: the second pass runs
        ei_ref, d_ref = radius_graph_ref(x.double(), 0.12, None if yy is None else yy.double())
        assert torch.equal(ei.cpu(), ei_ref.cpu())
        torch.testing.assert_close(dist.cpu(), d_ref.cpu(), rtol=1e-4, atol=1e-3)  # sqrt near 0 amplifies the norm expansion's rounding
        if self_graph: assert (ei[0] < ei[1]).all()
        elif yy is x: assert (ei[0] == ei[1]).sum() == 150  # an explicit y = x keeps every pair, i = j included


def test_triton_on_cpu_without_interpreter_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ConfigError, match="TRITON_INTERPRET=1"):
        pairwise_distances(torch.zeros(2, 2), backend="triton")
    assert pairwise_distances(torch.zeros(2, 2)).shape == (2, 2)  # auto: the reference on CPU


def test_bad_inputs():
    with pytest.raises(ConfigError, match="precision='fp8' unknown"): pairwise_distances(torch.zeros(2, 2), precision="fp8")
    with pytest.raises(ConfigError, match="needs at least one row"): pairwise_distances(torch.zeros(0, 2))
    with pytest.raises(ConfigError, match="finite number"): radius_graph(torch.zeros(2, 2), float("nan"))
