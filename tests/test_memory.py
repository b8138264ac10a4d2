"""DNDS memory (neuralblitz_lab.memory.dnds): the derived write identities on random banks, the step-size bound of a
batched write, gradients through writes, the hierarchical read/write against the flat one, and the retrieval memory
as a merge-benchmark method on a small trained zoo."""
import numpy as np
import pytest
import torch

from neuralblitz_lab.memory.dnds import (DNDS, dnds_read, dnds_retrieval_method, dnds_write, hierarchical_read,
                                         hierarchical_write, model_fingerprints, random_hierarchy, retrieval_merge, soft_assign)


def _bank(B, k, m, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, k, generator=g, dtype=torch.float64), torch.randn(B, m, generator=g, dtype=torch.float64), g


@pytest.mark.parametrize("N,B,tau", [(1, 7, 0.05), (4, 16, 1.0), (9, 5, 20.0)])
def test_batched_write_moves_residuals_by_i_minus_eta_gram(N, B, tau):
    C, W, g = _bank(B, 3, 2, N)
    K, V = torch.randn(N, 3, generator=g, dtype=torch.float64), torch.randn(N, 2, generator=g, dtype=torch.float64)
    S = soft_assign(K, C, tau)
    R0 = V - dnds_read(K, C, W, tau)
    R1 = V - dnds_read(K, C, dnds_write(K, V, C, W, tau, 0.4), tau)
    torch.testing.assert_close(R1, (torch.eye(N, dtype=torch.float64) - 0.4 * S @ S.T) @ R0, rtol=0, atol=1e-12)


def test_write_contracts_below_two_over_lambda_max_and_not_above():
    C, W, g = _bank(12, 3, 1, 3)
    K = torch.randn(6, 3, generator=g, dtype=torch.float64)
    S = soft_assign(K, C, 2.0); ev, U = torch.linalg.eigh(S @ S.T)
    V = dnds_read(K, C, W, 2.0) + U[:, -1:]  # residual along the top eigenvector of S Sᵀ
    for factor, grows in ((1.9, False), (2.1, True)):
        R1 = V - dnds_read(K, C, dnds_write(K, V, C, W, 2.0, factor / float(ev[-1])), 2.0)
        assert (R1.norm() > 1.0) == grows, (factor, float(R1.norm()))


def test_module_gradients_reach_every_input_through_two_writes():
    mem = DNDS(key_dim=3, value_dim=2, num_buckets=6, tau=0.7, eta=0.5, seed=1)
    k = torch.randn(2, 3, requires_grad=True); v = torch.randn(2, 2, requires_grad=True)
    mem.write(k, v); mem.write(k.flip(0), 2 * v)
    mem.read(k).sum().backward()
    for t in (k, v, mem.centroids, mem.log_tau):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    mem.detach_(); assert mem.memory_bank.grad_fn is None and mem.memory_bank.abs().sum() > 0
    mem.reset(); assert (mem.memory_bank == 0).all()


def test_hierarchical_read_and_write_equal_flat_with_every_group_probed_float32():
    h = random_hierarchy(6, 10, key_dim=5, value_dim=4, seed=2)
    g = torch.Generator().manual_seed(0)
    q = torch.randn(7, 5, generator=g) * 3
    C, W = h["centroids"].flatten(0, 1), h["memory"].flatten(0, 1)
    torch.testing.assert_close(hierarchical_read(q, **h, tau=2.0, n_probe=6), dnds_read(q, C, W, 2.0), rtol=1e-5, atol=1e-5)
    v = torch.randn(7, 4, generator=g)
    new = hierarchical_write(q, v, h["group_centroids"], h["centroids"], h["memory"], 2.0, 0.3, n_probe=6)
    torch.testing.assert_close(new.flatten(0, 1), dnds_write(q, v, C, W, 2.0, 0.3), rtol=1e-5, atol=1e-5)
    one = hierarchical_write(q[:1], v[:1], h["group_centroids"], h["centroids"], h["memory"], 2.0, 0.3, n_probe=1)
    assert int(((one - h["memory"]).abs().sum((1, 2)) > 0).sum()) == 1  # one probe: one group touched


def test_retrieval_merge_and_fingerprints():
    g = torch.Generator().manual_seed(0)
    keys = torch.eye(4) * 3; vals = torch.randn(4, 9, generator=g)
    out = retrieval_merge(keys, vals, keys + 0.1, tau=0.3)
    torch.testing.assert_close(out, vals, rtol=1e-3, atol=1e-3)
    soft = retrieval_merge(keys, vals, torch.zeros(1, 4), tau=100.0)  # far from all, very soft: the mean of the stored values
    torch.testing.assert_close(soft[0], vals.mean(0), rtol=2e-2, atol=2e-2)
    from neuralblitz_lab.cnn import init_params, params_to_flat
    from neuralblitz_lab.merge.tokens import permute_hidden, random_hidden_permutations
    w = torch.stack([params_to_flat(init_params("kaiming_uniform", s)) for s in (0, 1)])
    x = torch.rand(8, 1, 28, 28, generator=g)
    fp = model_fingerprints(w, ["relu", "relu"], x)
    assert fp.shape == (2, 10); torch.testing.assert_close(fp.sum(1), torch.ones(2))
    wp = permute_hidden(w, random_hidden_permutations(2, g))
    torch.testing.assert_close(model_fingerprints(wp, ["relu", "relu"], x), fp, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def small_zoo(tmp_path_factory):
    "Ten relu models (tiny data, 2 epochs) with train, val and test triplets (the merge benchmark test's plan)."
    from neuralblitz_lab.data import load_dataset
    from neuralblitz_lab.zoo.store import Zoo, ZooWriter, merge_scenarios, split_scenarios
    from neuralblitz_lab.zoo.train import ModelGroup, TrainConfig, train_group
    exps = [(0, 1), (5, 6), (0, 1, 5, 6), (0, 3), (0, 3, 5, 6), (3, 4), (0, 1, 3, 4), (2, 3), (0, 1, 2, 3), tuple(range(10))]
    path = tmp_path_factory.mktemp("dnds_zoo") / "zoo"
    data = load_dataset("tiny"); cfg = TrainConfig(max_epochs=2, epoch_bins=(1, 2))
    writer = ZooWriter(path, {"profile": "tiny", "seed": 0}, cfg.epoch_bins, cfg.max_epochs)
    n = len(exps)
    weights, rows = train_group(ModelGroup("relu", "kaiming_uniform", 0, tuple(range(n)), tuple(exps), tuple(range(n))), data, cfg, "cpu")
    writer.write_shard(f"relu-kaiming_uniform-m000000-{n - 1:06d}", weights, rows)
    writer.write_scenarios(split_scenarios(merge_scenarios(), 0))
    writer.finalize(data.fingerprint, split_seed=0)
    return Zoo(path), data


def test_dnds_method_returns_the_nearest_visible_union_model(small_zoo):
    from neuralblitz_lab.merge.benchmark import make_batch, zoo_triplets
    zoo, data = small_zoo
    w = zoo.filter(final_only=True).weights()
    train, test = zoo_triplets(zoo, "train"), zoo_triplets(zoo, "test")
    assert len(train) >= 1 and len(test) >= 1
    probe = data.images[:32]
    batch = make_batch(zoo, test, data, w)
    out = dnds_retrieval_method(zoo, probe, tau=1e-3, weights=w)(batch)
    assert out.shape == batch.w1.shape
    key = lambda a, b: model_fingerprints(a, ["relu"] * len(a), probe) + model_fingerprints(b, ["relu"] * len(b), probe)
    kt = key(w[torch.as_tensor(train.row1.tolist())], w[torch.as_tensor(train.row2.tolist())])
    kq = key(batch.w1, batch.w2)
    nearest = torch.cdist(kq.double(), kt.double()).argmin(1)
    expected = w[torch.as_tensor(train.row_union.to_numpy()[nearest.numpy()])]
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)
