"""The GAK benchmark's inputs, shared by `bench/kernels.py` and the GAK diagnostics in `bench/gak/`; a helper module, so
its name starts with `_` (`make bench` runs only `bench/[!_]*.py`)."""
import torch

from neuralblitz_lab.kernels.gak import draw_omega

SHAPE = dict(B=8, H=8, L=4096, DH=64, MF=64, P=16)  # the benchmark: B=8, H=8, L=4096, Dh=64, m=64 features, p=16


def gak_inputs(g: torch.Generator, B: int, H: int, L: int, DH: int, MF: int, P: int, grad: bool = True) -> tuple:
    """q, k, v (B, H, L, Dh) bf16, θ = 0.3·N(0, 1) (B, L, p), the identity metric, Ω (m, p) from a generator seeded 0, and
    dO (B, H, L, Dh) bf16, drawn in that order from the CUDA generator `g` (callers that draw more continue from it)."""
    q, k, v = (torch.randn(B, H, L, DH, device="cuda", dtype=torch.bfloat16, generator=g).requires_grad_(grad) for _ in range(3))
    theta = (0.3 * torch.randn(B, L, P, device="cuda", generator=g)).requires_grad_(grad)
    metric = torch.ones(P, device="cuda"); omega = draw_omega(metric, MF, torch.Generator().manual_seed(0))
    do = torch.randn(B, H, L, DH, device="cuda", dtype=torch.bfloat16, generator=g)
    return q, k, v, theta, metric, omega, do
