"""The real-image reproductions (purification-digits, robust-features-digits, averaging-digits)
on small generated MNIST IDX / CIFAR-10 binary files, and on the digits where scikit-learn
is installed (CI installs only the test extra: those tests are skipped there)."""
import dataclasses
import importlib.util
import json

import numpy as np
import pytest

from npfp.cli import main as cli_main
from npfp.datasets import (IMAGE_SHAPES, class_signs, detect_dataset, load_image_split,
                           resolve_dataset)
from npfp.purification import digits as pdig
from npfp.robust_features import digits as rdig

HAVE_SKLEARN = importlib.util.find_spec("sklearn") is not None
needs_sklearn = pytest.mark.skipif(not HAVE_SKLEARN, reason="needs scikit-learn (digits extra)")


def _idx(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    return head + np.ascontiguousarray(arr, dtype="u1").tobytes()


def _images(n, shape, seed):
    """Images whose class shows: a bright block at a class-dependent place, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    C, H, W = shape
    X = rng.integers(0, 60, (n, C, H, W))
    for k in range(10):
        r, c = (k // 5) * (H // 2), (k % 5) * (W // 5)
        X[y == k, :, r:r + H // 2, c:c + max(1, W // 5)] += 180
    return np.clip(X, 0, 255).astype(np.uint8), y.astype(np.uint8)


def make_mnist(folder, n_train=60, n_test=30):
    for pre, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        X, y = _images(n, (1, 28, 28), seed)
        (folder / f"{pre}-images-idx3-ubyte").write_bytes(_idx(X[:, 0]))
        (folder / f"{pre}-labels-idx1-ubyte").write_bytes(_idx(y))
    return folder


def make_cifar(folder, n_per=12, n_test=30):
    for i, name in enumerate([f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]):
        X, y = _images(n_test if name == "test_batch.bin" else n_per, (3, 32, 32), i)
        rec = np.concatenate([y[:, None], X.reshape(len(y), -1)], axis=1)
        (folder / name).write_bytes(rec.tobytes())
    return folder


# ------------------------------------------------------------------ datasets
def test_detect_and_resolve(tmp_path):
    m = tmp_path / "m"
    c = tmp_path / "c"
    m.mkdir()
    c.mkdir()
    make_mnist(m)
    make_cifar(c)
    assert detect_dataset(m) == "mnist" and detect_dataset(c) == "cifar10"
    assert resolve_dataset("auto") == "digits"
    assert resolve_dataset("auto", str(c)) == "cifar10"
    with pytest.raises(FileNotFoundError, match="neither"):
        detect_dataset(tmp_path)
    with pytest.raises(ValueError, match="digits"):
        resolve_dataset("digits", str(m))
    with pytest.raises(ValueError, match="dataset"):
        resolve_dataset("svhn")


def test_load_image_split_files(tmp_path):
    make_mnist(tmp_path)
    S = load_image_split("mnist", 20, 10, path=tmp_path, rng=0)
    assert S["Xtr"].shape == (20, 784) and S["Xte"].shape == (10, 784)
    assert S["shape"] == IMAGE_SHAPES["mnist"] and 0 <= S["Xtr"].min() and S["Xtr"].max() <= 1
    S2 = load_image_split("mnist", 20, 10, path=tmp_path, rng=0)
    np.testing.assert_array_equal(S["Xtr"], S2["Xtr"])          # seeded
    with pytest.raises(ValueError, match="n_train"):
        load_image_split("mnist", 61, path=tmp_path, rng=0)


@needs_sklearn
def test_load_image_split_digits_matches_permutation():
    S = load_image_split("digits", 1200, rng=np.random.default_rng(3))
    assert S["Xtr"].shape == (1200, 64) and S["Xte"].shape == (597, 64)


def test_class_signs():
    np.testing.assert_array_equal(class_signs("mnist"), [-1, 1] * 5)
    np.testing.assert_array_equal(class_signs("cifar10"), [-1] * 5 + [1] * 5)
    with pytest.raises(ValueError, match="dataset"):
        class_signs("svhn")


# ------------------------------------------------------------------ patch split (exact answers)
def test_to_patches_known_layout():
    X = np.arange(2 * 3 * 4 * 4, dtype=float).reshape(2, 3, 4, 4)
    P = rdig.to_patches(X.reshape(2, -1), (3, 4, 4), 2)
    assert P.shape == (2, 4, 12)
    # patch 1 of image 0 is rows 0-1, columns 2-3 of every channel, channel-major
    np.testing.assert_array_equal(P[0, 1], X[0, :, 0:2, 2:4].ravel())
    with pytest.raises(ValueError, match="patch"):
        rdig.to_patches(X.reshape(2, -1), (3, 4, 4), 3)


def test_robust_subspace_definition():
    rng = np.random.default_rng(0)
    # a strong signal on coordinate 0 (rms 1), weak noise elsewhere (rms 0.01)
    Z = rng.standard_normal((500, 3, 6)) * 0.01
    Z[..., 0] = rng.choice([-1.0, 1.0], size=(500, 3))
    split = rdig.robust_subspace(Z, eps=0.1)
    assert split["robust"].sum() == 1
    e = split["E"][:, split["robust"]][:, 0]
    assert abs(abs(e[0]) - 1) < 1e-3
    assert np.all((split["strength"] > split["reach"]) == split["robust"])
    W = np.zeros((1, 2, 6))
    W[0, 0, 0], W[0, 1, 3] = 2.0, 1.0
    np.testing.assert_allclose(rdig.robust_share(W, split["P_R"]), [1.0, 0.0], atol=1e-4)


def test_nonrobust_move_is_minus_sign_of_nonrobust_class_mean():
    rng = np.random.default_rng(1)
    Ptr = rng.random((40, 4, 5))
    y = np.arange(40) % 10
    P_R = np.zeros((5, 5))
    P_R[0, 0] = 1.0                          # coordinate 0 robust, the rest not
    move = rdig.nonrobust_directions(Ptr, y, P_R, 4)
    v3 = Ptr[y == 3].mean(axis=(0, 1)) - Ptr.mean(axis=(0, 1))
    v3[0] = 0.0
    assert move.shape == (10, 4, 5)
    np.testing.assert_array_equal(move[3, 2], -np.sign(v3))
    assert np.all(move[:, :, 0] == 0)        # nothing moves along the robust direction


# ------------------------------------------------------------------ runs on generated files
def test_purification_on_mnist_files(tmp_path):
    make_mnist(tmp_path)
    c = dataclasses.replace(pdig.quick_config(), n_train=60, n_test=30, m=8, clean_epochs=3,
                            final_epochs=1, adv_epochs=1, data_dir=str(tmp_path), n_show=4)
    r = pdig.run(c, progress=False)
    assert r.dataset == "mnist" and r.W.shape == (8, 784)
    assert all(np.isfinite(v) for v in r.targets.values())
    paths = pdig.save(r, str(tmp_path / "out"))
    assert len(paths) == 4
    js = json.loads((tmp_path / "out" / "purification_digits.json").read_text())
    assert js["dataset"] == "mnist" and len(js["claims"]) == len(pdig.CLAIMS)
    idx, tiles = pdig.neuron_grid(r.W, r.W_adv, r.shape, 4)
    assert tiles.shape == (4, 2, 28, 28)


def test_robust_features_on_cifar_files(tmp_path):
    make_cifar(tmp_path)
    c = dataclasses.replace(rdig.quick_config(), n_train=50, n_test=30, m=2, epochs=2, warmup=1,
                            adv_epochs=1, eval_steps=2, data_dir=str(tmp_path))
    r = rdig.run(c, progress=False)
    assert r.dataset == "cifar10" and r.W["standard"].shape == (10, 2, 192)
    assert r.patch_shape == (3, 8, 8)
    assert len(rdig.save(r, str(tmp_path / "out"))) == 4


def test_averaging_on_cifar_files_via_cli(tmp_path, capsys):
    make_cifar(tmp_path)
    code = cli_main(["reproduce", "averaging-digits", "--quick", "--no-progress",
                     "--data-dir", str(tmp_path), "--out", str(tmp_path / "out"),
                     "--set", "n_train=60", "n_test=30", "steps=20", "pgd_steps=2"])
    assert code in (0, 1)                   # random images: claims may fail, the run may not
    out = capsys.readouterr().out
    assert "CIFAR-10, first five vs last five" in out
    js = json.loads((tmp_path / "out" / "averaging-digits" / "latest" /
                     "averaging_digits.json").read_text())
    assert js["dataset"] == "cifar10"


def test_cli_data_dir_refused_where_no_files_are_read(tmp_path, capsys):
    assert cli_main(["reproduce", "cgro", "--quick", "--data-dir", str(tmp_path),
                     "--out", str(tmp_path / "o")]) == 2
    assert "reads no image files" in capsys.readouterr().err


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="data_dir"):
        pdig.Config(data_dir=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="tau"):
        pdig.Config(tau=0.35)
    with pytest.raises(ValueError, match="eps"):
        rdig.Config(eps=0.3)
    with pytest.raises(ValueError, match="dataset"):
        rdig.Config(dataset="svhn")


# ------------------------------------------------------------------ the digits
@needs_sklearn
def test_purification_digits_quick():
    r = pdig.run(pdig.quick_config(), progress=False)
    t = r.targets
    assert t["clean_acc_clean"] > 0.9
    assert t["robust_adv_tau"] > t["robust_clean_tau"]
    assert t["purified_fraction"] > 0.5
    assert "most clean neurons = beta w' + smaller v" in pdig.summary_table(r)


@needs_sklearn
def test_robust_features_digits_quick():
    r = rdig.run(rdig.quick_config(), progress=False)
    t = r.targets
    assert t["clean_standard"] > 0.7
    assert t["robust_adversarial"] > t["robust_standard"]
    assert 0 < t["n_robust_dirs"] < t["dim"]
    assert "non-robust move" in rdig.summary_table(r)
