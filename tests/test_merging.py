"""Classical merges on real trained CNNs: the properties the notebook checks on random weights, on models that learned."""
import pytest
import torch

from neuralblitz_lab.cnn import N_PARAMS, init_params, params_to_flat
from neuralblitz_lab.data import load_dataset
from neuralblitz_lab.merge.classical import (PERM_GROUPS, average_merge, permute_params, task_arithmetic_merge, ties_merge,
                                     weight_matching, weight_matching_merge, zipit_merge_one, logits_of_batch)
from neuralblitz_lab.zoo.train import TrainConfig, train_reference


@pytest.fixture(scope="module")
def trained():
    "Two CNNs from one θ0, trained 3 epochs on {0, 1} and on {2, 3} of the tiny dataset."
    data = load_dataset("tiny")
    cfg = TrainConfig(max_epochs=3, epoch_bins=(1,))
    w = [params_to_flat(train_reference(c, "relu", "kaiming_uniform", 0, 1, data, cfg, epochs=3)) for c in ((0, 1), (2, 3))]
    return data, params_to_flat(init_params("kaiming_uniform", 0)), w[0], w[1]


def test_task_arithmetic_interpolates_between_theta0_and_the_sum(trained):
    _, th, w1, w2 = trained
    assert torch.allclose(task_arithmetic_merge(w1[None], w2[None], th[None], 0.0), th[None])
    assert torch.allclose(task_arithmetic_merge(w1[None], w2[None], th[None], 0.5), average_merge(w1[None], w2[None]), atol=1e-6)


def test_ties_full_density_without_conflicts_is_task_arithmetic_of_the_mean(trained):
    _, th, w1, _ = trained
    # one task vector and its half: no sign conflict, the disjoint mean is 0.75 tau
    w2 = th + 0.5 * (w1 - th)
    out = ties_merge(w1[None], w2[None], th[None], density=1.0, lam=1.0)
    assert torch.allclose(out, (th + 0.75 * (w1 - th))[None], atol=1e-6)


def test_weight_matching_undoes_a_permutation_of_a_trained_model(trained):
    data, _, w1, _ = trained
    g = torch.Generator().manual_seed(3)
    perm = {k: torch.randperm(n, generator=g) for k, n in PERM_GROUPS.items()}
    wp = permute_params(w1, perm)
    x = data.images[:32]
    assert torch.allclose(logits_of_batch(wp, x, "relu"), logits_of_batch(w1, x, "relu"), atol=1e-4)
    assert torch.allclose(permute_params(wp, weight_matching(w1, wp)), w1)
    assert torch.allclose(weight_matching_merge(w1[None], wp[None]), w1[None], atol=1e-6)


def test_zipit_of_two_trained_parents_is_a_finite_new_model(trained):
    data, _, w1, w2 = trained
    z = zipit_merge_one(w1, w2, data.images[:64], "relu")
    assert z.shape == (N_PARAMS,) and torch.isfinite(z).all()
    assert not torch.allclose(z, (w1 + w2) / 2)
