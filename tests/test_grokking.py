"""Grokking topology on clouds built by construction, and the report experiment end to end in `tiny`."""
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from neuralblitz_lab.dynamics.grokking import betti_numbers, fourier_power, h1_summary, key_frequencies, maxmin_landmarks, pair_cloud

ROOT = Path(__file__).resolve().parents[1]


def ring_embedding(p=31, k=5, d=24, noise=0.0, seed=0):
    "Token a at (cos, sin)(2 pi k a / p) in a random 2-plane of R^d, plus Gaussian noise."
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.normal(size=(d, d)))[0][:, :2]
    a = 2 * np.pi * k * np.arange(p) / p
    return torch.tensor(np.stack([np.cos(a), np.sin(a)], 1) @ Q.T + noise * rng.normal(size=(p, d)), dtype=torch.float32)


def test_ring_embedding_has_one_key_frequency_and_one_dominant_loop():
    E = ring_embedding(noise=0.02)
    assert key_frequencies(fourier_power(E)) == [5]
    h = h1_summary(E.numpy())
    assert h["n_dominant"] == 1 and h["max_h1"] > 1.0


def test_pair_cloud_of_a_ring_is_a_torus_and_of_noise_is_not():
    E = ring_embedding(p=23, k=3)
    pc = pair_cloud(E, 3).numpy()
    assert betti_numbers(pc[maxmin_landmarks(pc, 120)], maxdim=2) == (1, 2, 1)
    noise = torch.randn(23, 24, generator=torch.Generator().manual_seed(0))
    pn = pair_cloud(noise, 3).numpy()
    assert betti_numbers(pn[maxmin_landmarks(pn, 120)], maxdim=2)[2] == 0


def test_report_runs_in_tiny(tmp_path):
    r = subprocess.run([str(Path(sys.executable).parent / "nblab"), "reproduce", "--profile", "tiny", "--only",
                        "06_fixed_points_report", "--root", str(tmp_path), "--no-progress"], cwd=ROOT, capture_output=True,
                       text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    sig = pd.read_csv(tmp_path / "figures/06_fixed_points_report/grokking_signature.csv")
    assert list(sig.columns) == ["p", "seed", "grok_step", "h1_jump_step", "final_val_acc", "final_max_h1", "initial_max_h1"]
    assert len(sig) == 1 and sig["p"].item() == 23
