"""Integration tests of neuralblitz_lab.cnn: training through vmap, the grouped-conv zoo forward and a plain loop agree;
flat <-> dict round trips with several leading dims; a short training run learns a separable task."""
import pytest
import torch
import torch.nn.functional as F
from torch.func import grad, vmap

from neuralblitz_lab.cnn import (CNN_SPEC, INITS, N_PARAMS, cnn_forward, flat_to_params, init_params, init_zoo_params,
                                 params_to_flat, zoo_forward)
from neuralblitz_lab.core import ConfigError


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    "These tensors are tiny: one intra-op thread avoids OpenMP hand-off stalls (10-100x) when the cores are busy."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _loss(params, x, y, activation):
    return F.cross_entropy(cnn_forward(params, x, activation), y)


def _separable(n: int, seed: int, amp: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    "n noise images (28x28, N(0, 1)) with a 7x7 patch brightened by `amp`: top-left for label 1, bottom-right for label 0."
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 1, 28, 28, generator=g)
    x[y == 1, :, 4:11, 4:11] += amp
    x[y == 0, :, 17:24, 17:24] += amp
    return x, y


def _adam_steps(grad_fn, params: dict, n_steps: int, lr: float = 1e-2) -> dict:
    "Run `n_steps` of torch.optim.Adam on leaf copies of `params`, with gradients from `grad_fn(params, step)`."
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    opt = torch.optim.Adam(leaves.values(), lr=lr)
    for step in range(n_steps):
        grads = grad_fn(leaves, step)
        for k, p in leaves.items(): p.grad = grads[k]
        opt.step()
    return {k: v.detach() for k, v in leaves.items()}


def test_vmap_grad_and_zoo_forward_train_like_a_loop():
    # two models with different inits, each on its own batches: Adam is elementwise, so training them stacked
    # (vmap of grad, or autograd through zoo_forward) must match training each alone
    start = {k: torch.stack([a, b]) for (k, a), b in zip(init_params("kaiming_uniform", 0).items(), init_params("xavier_normal", 1).values())}
    batches = [_separable(8 * 2, seed=s) for s in range(4)]  # 4 steps, 16 images split 8 per model
    X = [x.view(2, 8, 1, 28, 28) for x, _ in batches]  # (n_models, B, 1, 28, 28)
    Y = [y.view(2, 8) for _, y in batches]

    def vmapped(p, step):
        return vmap(grad(_loss), in_dims=(0, 0, 0, None))({k: v.detach() for k, v in p.items()}, X[step], Y[step], "silu")

    def zoo(p, step):
        logits = zoo_forward(p, X[step], "silu")  # (2, 8, 10)
        loss = sum(F.cross_entropy(logits[m], Y[step][m]) for m in range(2))  # each model's loss only reaches its own params
        return dict(zip(p, torch.autograd.grad(loss, list(p.values()))))

    by_vmap, by_zoo = _adam_steps(vmapped, start, 4), _adam_steps(zoo, start, 4)
    for m in range(2):
        alone = _adam_steps(lambda p, step: grad(_loss)(p, X[step][m], Y[step][m], "silu"), {k: v[m] for k, v in start.items()}, 4)
        for k in alone:
            torch.testing.assert_close(by_vmap[k][m], alone[k], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(by_zoo[k][m], alone[k], rtol=1e-4, atol=1e-5)
        assert not torch.equal(alone["fc2.weight"], start["fc2.weight"][m])  # the steps did move the weights


def test_flat_round_trip_with_two_leading_dims():
    flat = torch.randn(3, 4, N_PARAMS) * 0.1  # logits of order one
    params = flat_to_params(flat)
    assert params["conv2.weight"].shape == (3, 4, 6, 8, 5, 5) and params["fc2.bias"].shape == (3, 4, 10)
    assert torch.equal(params_to_flat(params), flat)
    back = flat_to_params(params_to_flat(params))
    assert all(torch.equal(back[k], params[k]) for k in CNN_SPEC.param_shapes)
    # the (3, 4) grid of models runs under two nested vmaps and matches model [2, 1] run alone
    x = torch.randn(5, 1, 28, 28) * 0.1
    logits = vmap(vmap(cnn_forward, in_dims=(0, None, None)), in_dims=(0, None, None))(params, x, "tanh")
    torch.testing.assert_close(logits[2, 1], cnn_forward({k: v[2, 1] for k, v in params.items()}, x, "tanh"))
    with pytest.raises(ConfigError, match=r"flat has shape \(3, 4, 2465\); expected \(\.\.\., 2464\)"):
        flat_to_params(torch.zeros(3, 4, N_PARAMS + 1))


def test_short_training_learns_a_separable_task():
    # a zoo of the six inits, trained together through zoo_forward on shared images, learns where the bright patch is
    x, y = _separable(48, seed=10)
    xt, yt = _separable(256, seed=11)
    zoo = {k: torch.stack([init_params(i, 0)[k] for i in INITS]).requires_grad_() for k in CNN_SPEC.param_shapes}
    opt = torch.optim.Adam(zoo.values(), lr=1e-2)

    def losses(x, y):  # (n_models,): each model's mean cross-entropy
        return F.cross_entropy(zoo_forward(zoo, x, "relu").transpose(1, 2), y.expand(len(INITS), -1), reduction="none").mean(1)

    first = losses(x, y).detach()
    for step in range(40):
        opt.zero_grad(); losses(x, y).sum().backward(); opt.step()
    with torch.no_grad():
        train, held_out = losses(x, y), losses(xt, yt)
        acc = (zoo_forward(zoo, xt, "relu").argmax(-1) == yt).float().mean(1)
    assert torch.all(train < 0.05 * first), (first, train)
    assert torch.all(held_out < 0.3 * first), (first, held_out)
    assert torch.all(acc >= 0.75), acc  # chance is 0.5


def test_zoo_init_is_one_model_repeated():
    zoo = init_zoo_params("kaiming_normal", 4, seed=7)
    assert params_to_flat(zoo).shape == (4, N_PARAMS)
    assert torch.equal(params_to_flat(zoo), params_to_flat(init_params("kaiming_normal", 7)).expand(4, -1))
