"The zoo benchmark's FLOP count (its TFLOP/s) against torch's own FLOP counter on one forward pass."
import importlib.util
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from neuralblitz_lab.cnn import cnn_forward, init_params


def _bench():
    spec = importlib.util.spec_from_file_location("zoo_throughput", Path(__file__).parents[1] / "bench" / "zoo_throughput.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def test_forward_flops_match_torch_counter():
    counter = FlopCounterMode(display=False)
    with counter: cnn_forward(init_params("kaiming_uniform", 0), torch.zeros(1, 1, 28, 28), "relu")
    assert _bench().forward_flops_per_image() == counter.get_total_flops() == 387_568
