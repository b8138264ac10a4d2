"""Tokens on real zoo weights: both tokenizers and the layer-wise normalizer round-trip a whole zoo; a hidden-neuron
permutation of trained models keeps their predictions."""
from pathlib import Path

import pytest
import torch

from neuralblitz_lab.cnn import N_PARAMS, cnn_forward, flat_to_params, init_params, params_to_flat
from neuralblitz_lab.merge.tokens import LayerwiseNormalizer, get_tokenizer, permute_hidden, random_hidden_permutations

ROOT = Path(__file__).resolve().parents[1]
SMALL_ZOO = ROOT / "data" / "zoos" / "small"


@pytest.fixture(scope="module")
def weights() -> torch.Tensor:
    "The small zoo's weights when it is built, else 64 freshly initialized CNNs (trained weights are not needed for exactness)."
    if (SMALL_ZOO / "manifest.json").is_file():
        from neuralblitz_lab.zoo.store import Zoo
        return Zoo(SMALL_ZOO, verify=False).weights()
    return torch.stack([params_to_flat(init_params("kaiming_uniform", s)) for s in range(64)])


@pytest.mark.parametrize("name", ["chunks", "neurons"])
def test_tokenizers_round_trip_a_zoo(weights, name):
    tok = get_tokenizer(name)
    t = tok.tokenize(weights)
    assert t.shape == (len(weights), tok.n_tokens, tok.token_dim)
    assert torch.equal(tok.detokenize(t), weights)  # bit-exact
    assert t[:, ~tok.mask()].abs().sum() == 0


def test_normalizer_fits_and_inverts_a_zoo(weights):
    w = weights.double()
    norm = LayerwiseNormalizer().fit(w)
    z = norm.transform(w)
    assert torch.allclose(norm.inverse_transform(z), w, atol=1e-12)
    assert abs(float(z.mean())) < 1e-8 and abs(float(z.std()) - 1) < 0.05


def test_permutation_keeps_predictions(weights):
    w = weights[:8]
    wp = permute_hidden(w, random_hidden_permutations(8, torch.Generator().manual_seed(0)))
    x = torch.rand(32, 1, 28, 28)
    for i in range(8):
        a, b = (cnn_forward(flat_to_params(v[i]), x, "relu") for v in (w, wp))
        assert torch.allclose(a, b, atol=1e-4)
    assert (wp - w).abs().max() > 1e-3
