"""Every registered loss runs on one full LossContext of real-shaped CNN weights, is finite, and the differentiable ones send
a gradient to the prediction."""
import pytest
import torch

from neuralblitz_lab.cnn import init_params, params_to_flat
from neuralblitz_lab.merge.losses import COMPOSITE_5_4, LOSSES, LossContext, diagonal_fisher, total_loss


def context() -> LossContext:
    g = torch.Generator().manual_seed(0)
    target = torch.stack([params_to_flat(init_params("kaiming_uniform", s)) for s in range(2)])
    pred = (target + 0.05 * torch.randn(target.shape, generator=g)).requires_grad_()
    images = torch.rand(2, 1, 28, 28, generator=g)
    neck = torch.tanh(torch.randn(2, 8, generator=g))
    z = lambda: [torch.randn(2, 4, generator=g) for _ in range(2)]
    return LossContext(pred=pred, target=target, pred_raw=pred, target_raw=target, neck=neck, neck_view=neck + 0.1,
                       fusion_weight=torch.randn(8, 6, generator=g), z_pred=[pred[:, :4], pred[:, 4:8]], z_target=z(), z_x1=z(), z_x2=z(),
                       images=images, activation=["relu", "gelu"],
                       fisher=torch.stack([diagonal_fisher(t, images, a) for t, a in zip(target, ["relu", "gelu"])]))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_runs_and_differentiates(name):
    ctx = context()
    val = LOSSES[name].fn(ctx)
    assert torch.isfinite(val) and float(val) >= 0
    if LOSSES[name].differentiable and name not in ("contractive", "contrastive"):  # those read the neck, not pred
        (g,) = torch.autograd.grad(val, ctx.pred, allow_unused=True)
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, name


def test_composite_of_section_5_4():
    ctx = context()
    total, parts = total_loss(ctx, COMPOSITE_5_4)
    assert set(parts) == set(COMPOSITE_5_4)
    assert torch.isclose(total, sum(torch.tensor(COMPOSITE_5_4[k] * v) for k, v in parts.items()), rtol=1e-4)
