"""TransformerAE: the seed preset's parameter count (meta device), a small model's safetensors round trip, SDPA vs the math
path, and a few optimizer steps that fit one triplet (with SDPA and with geometric attention)."""
import pytest
import torch

from neuralblitz_lab.cnn import N_PARAMS
from neuralblitz_lab.core import load_safetensors, save_safetensors
from neuralblitz_lab.merge.transformer_ae import TransformerAE, count_parameters, get_preset


def test_seed_preset_has_the_reports_parameter_count():
    assert count_parameters(get_preset("seed")) == 210_546_336


def test_safetensors_round_trip(tmp_path):
    torch.manual_seed(0)
    m = TransformerAE(get_preset("small")).eval()
    save_safetensors(m.state_dict(), tmp_path / "m.safetensors")
    m2 = TransformerAE(get_preset("small")).eval()
    m2.load_state_dict(load_safetensors(tmp_path / "m.safetensors")[0])
    w1, w2 = torch.randn(2, N_PARAMS), torch.randn(2, N_PARAMS)
    assert torch.equal(m(w1, w2)["out"], m2(w1, w2)["out"])
    assert torch.allclose(m(w1, w2)["out"], m(w1, w2, return_attn=True)["out"], atol=1e-4)


@pytest.mark.parametrize("attention", ["sdpa", "gak"])
def test_fits_one_triplet(attention):
    torch.manual_seed(0)
    m = TransformerAE(get_preset("tiny", skip="none", attention=attention))
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    w1, w2, wt = torch.randn(3, 1, N_PARAMS)
    first = None
    for _ in range(60):
        loss = (m(w1, w2)["out"] - wt).square().mean()
        first = first or float(loss)
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    assert float(loss) < 0.2 * first
