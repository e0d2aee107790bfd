"""Tests of npfp.datasets on small IDX / CIFAR-10 files written by the tests themselves."""
import gzip
import os

import numpy as np
import pytest

from npfp.datasets import data_dir, load_cifar10, load_digits, load_mnist, read_idx


def idx_bytes(arr: np.ndarray, type_code: int = 0x08) -> bytes:
    dt = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[type_code]
    head = bytes([0, 0, type_code, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    return head + np.ascontiguousarray(arr, dtype=dt).tobytes()


def write(path, data: bytes, gz: bool = False):
    if gz:
        data = gzip.compress(data)
    with open(path, "wb") as fh:
        fh.write(data)
    return str(path)


def make_mnist(folder, n=7, gz=False, split="train"):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labs = rng.integers(0, 10, n).astype(np.uint8)
    pre = "train" if split == "train" else "t10k"
    ext = ".gz" if gz else ""
    write(folder / f"{pre}-images-idx3-ubyte{ext}", idx_bytes(imgs), gz)
    write(folder / f"{pre}-labels-idx1-ubyte{ext}", idx_bytes(labs), gz)
    return imgs, labs


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_roundtrip(tmp_path, gz):
    imgs, labs = make_mnist(tmp_path, gz=gz)
    X, y = load_mnist(tmp_path)
    assert X.shape == (7, 784) and X.dtype == np.float64
    np.testing.assert_allclose(X, imgs.reshape(7, -1) / 255.0)
    np.testing.assert_array_equal(y, labs)
    Xr, _ = load_mnist(tmp_path, normalize=False)
    np.testing.assert_array_equal(Xr, imgs.reshape(7, -1))


def test_mnist_from_env_and_subdir(tmp_path, monkeypatch):
    sub = tmp_path / "mnist"
    sub.mkdir()
    make_mnist(sub, n=3, split="test")
    monkeypatch.setenv("NPFP_DATA", str(tmp_path))
    X, y = load_mnist(split="test")
    assert X.shape == (3, 784) and y.shape == (3,)


@pytest.mark.parametrize("code", [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E])
def test_read_idx_types(tmp_path, code):
    arr = (np.arange(24).reshape(2, 3, 4) - (5 if code != 0x08 else 0))
    got = read_idx(write(tmp_path / "a.idx", idx_bytes(arr, code)))
    np.testing.assert_array_equal(got, arr)
    assert got.dtype.isnative


def test_read_idx_wrong_magic(tmp_path):
    data = bytearray(idx_bytes(np.zeros((2, 2), np.uint8)))
    data[0] = 0x50  # e.g. a PNG/HTML file saved under the wrong name
    with pytest.raises(ValueError, match="magic"):
        read_idx(write(tmp_path / "bad", bytes(data)))
    data = bytearray(idx_bytes(np.zeros((2, 2), np.uint8)))
    data[2] = 0x07  # unknown type code
    with pytest.raises(ValueError, match="magic"):
        read_idx(write(tmp_path / "bad2", bytes(data)))


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_truncated(tmp_path, gz):
    data = idx_bytes(np.zeros((5, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="truncated"):
        read_idx(write(tmp_path / "t", data[:-3], gz))
    with pytest.raises(ValueError, match="truncated"):
        read_idx(write(tmp_path / "h", data[:9], gz))
    with pytest.raises(ValueError, match="trailing"):
        read_idx(write(tmp_path / "x", data + b"\0", gz))


def test_read_idx_corrupt_gzip(tmp_path):
    data = gzip.compress(idx_bytes(np.zeros((50, 4, 4), np.uint8)))
    with pytest.raises(ValueError, match="gzip"):
        read_idx(write(tmp_path / "c.gz", data[: len(data) // 2]))


def test_mnist_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="train-images"):
        load_mnist(tmp_path)
    monkeypatch.delenv("NPFP_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="NPFP_DATA"):
        load_mnist()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, split="val")
    make_mnist(tmp_path, n=4)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(ValueError, match="4 images but"):
        load_mnist(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.full(4, 12, np.uint8)))
    with pytest.raises(ValueError, match="0..9"):
        load_mnist(tmp_path)


def make_cifar(folder, n_per=3, split="train"):
    rng = np.random.default_rng(1)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train" else ["test_batch.bin"]
    Xs, ys = [], []
    for name in names:
        lab = rng.integers(0, 10, n_per).astype(np.uint8)
        pix = rng.integers(0, 256, (n_per, 3072), dtype=np.uint8)
        write(folder / name, np.concatenate([lab[:, None], pix], axis=1).tobytes())
        Xs.append(pix)
        ys.append(lab)
    return np.concatenate(Xs), np.concatenate(ys)


def test_cifar_roundtrip(tmp_path):
    sub = tmp_path / "cifar-10-batches-bin"
    sub.mkdir()
    pix, lab = make_cifar(sub)
    X, y = load_cifar10(tmp_path)
    assert X.shape == (15, 3072)
    np.testing.assert_allclose(X, pix / 255.0)
    np.testing.assert_array_equal(y, lab)
    pix, lab = make_cifar(sub, split="test")
    X, y = load_cifar10(sub, split="test", normalize=False)
    np.testing.assert_array_equal(X, pix)


def test_cifar_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="test_batch"):
        load_cifar10(tmp_path, split="test")
    make_cifar(tmp_path, split="test")
    raw = open(tmp_path / "test_batch.bin", "rb").read()
    write(tmp_path / "test_batch.bin", raw[:-100])
    with pytest.raises(ValueError, match="truncated"):
        load_cifar10(tmp_path, split="test")
    bad = bytearray(raw)
    bad[0] = 57  # a label byte that CIFAR-10 never has
    write(tmp_path / "test_batch.bin", bytes(bad))
    with pytest.raises(ValueError, match="label byte"):
        load_cifar10(tmp_path, split="test")
    write(tmp_path / "test_batch.bin", b"")
    with pytest.raises(ValueError, match="multiple"):
        load_cifar10(tmp_path, split="test")


def test_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NPFP_DATA", str(tmp_path))
    assert data_dir() == str(tmp_path)
    assert data_dir(tmp_path) == str(tmp_path)


def test_load_digits():
    pytest.importorskip("sklearn")
    X, y = load_digits()
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert 0 <= X.min() and X.max() <= 1 and set(np.unique(y)) == set(range(10))


def test_load_digits_missing_sklearn(monkeypatch):
    import sys

    # None in sys.modules makes every import of it fail, even after an earlier test
    # imported scikit-learn for real
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"npfp\[digits\]"):
        load_digits()


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_overflowing_dimensions(tmp_path, gz):
    """Issue 17 item 7: dims 65536^4 wrapped the int64 size product to 0."""
    header = bytes([0, 0, 0x08, 4]) + (65536).to_bytes(4, "big") * 4
    with pytest.raises(ValueError, match=r"header announces shape \(65536, 65536, 65536, 65536\)"):
        read_idx(write(tmp_path / "o", header, gz))


def test_read_idx_refuses_an_oversized_gzip_before_inflating(tmp_path):
    """A small gzip whose header announces 10^12 items is refused without inflating it
    (it used to be inflated in full first: 1.8 MB -> 400 MB, peak memory 43 -> 830 MB)."""
    import tracemalloc

    path = tmp_path / "big.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(bytes([0, 0, 0x08, 2]) + (10**6).to_bytes(4, "big") * 2)   # 10^12 bytes
        chunk = bytes(1 << 20)
        for _ in range(40):                                                   # 40 MB of zeros
            fh.write(chunk)
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="more than the file can hold"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, f"peak memory {peak / 1e6:.1f} MB"


def test_read_idx_gzip_announcing_more_than_it_holds_reads_only_what_it_has(tmp_path):
    """Within the inflation bound, a short gzip is reported as truncated."""
    import tracemalloc

    data = idx_bytes(np.zeros((4, 4), np.uint8))
    header = bytes([0, 0, 0x08, 2]) + (1000).to_bytes(4, "big") * 2       # 10^6 bytes
    path = write(tmp_path / "short", header + data[12:] + bytes(50_000), True)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="truncated"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000
