"""Readers for real image data sets, from local files only (no downloads, no pickle).

* :func:`read_idx` / :func:`load_mnist` -- MNIST in the IDX format of LeCun et al.
  (``train-images-idx3-ubyte`` etc., raw or gzip-compressed ``.gz``).
* :func:`load_cifar10` -- CIFAR-10 in its *binary* format (``cifar-10-batches-bin``:
  records of 1 label byte + 3072 pixel bytes, R then G then B planes of 32x32).
  The Python "pickle" version is deliberately not supported: unpickling a file runs
  arbitrary code.
* :func:`load_digits` -- the 1797 8x8 handwritten digits that scikit-learn ships inside
  its package (no download), through the optional extra ``npfp[digits]``.

The directory is the ``path`` argument or, when that is None, the environment variable
``NPFP_DATA``.  Missing, truncated or malformed files raise ``FileNotFoundError`` /
``ValueError`` naming the file and what was wrong.

IDX format: 2 zero bytes, a type byte (0x08 unsigned byte, 0x09 signed byte, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64), a byte giving the number of dimensions, then
one big-endian uint32 per dimension, then the data in C order, big-endian.
"""
from __future__ import annotations

import gzip
import os

import numpy as np

__all__ = ["read_idx", "load_mnist", "load_cifar10", "load_digits", "data_dir", "IMAGE_SHAPES",
           "detect_dataset", "resolve_dataset", "load_image_split", "class_signs",
           "centred_binary_split"]

_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

_MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_CIFAR_FILES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
                "test": ("test_batch.bin",)}
_CIFAR_RECORD = 1 + 3 * 32 * 32


def data_dir(path=None) -> str:
    """The data directory: ``path`` if given, else ``$NPFP_DATA``; it must exist."""
    if path is None:
        path = os.environ.get("NPFP_DATA")
        if not path:
            raise FileNotFoundError("no data directory: pass path=... or set the NPFP_DATA "
                                    "environment variable to the folder holding the files")
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"data directory {path!r} does not exist")
    return path


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the extension
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip file ({exc})") from None
    return raw


#: deflate's largest compression ratio (a 258-byte match in about 2 bits): a gzip file of
#: c bytes inflates to at most about 1032 c bytes, a bound on what its header may announce
_GZIP_MAX_RATIO = 1032


def _open_idx(path: str):
    """(binary file object, whether gzip) -- gzip by its magic bytes, whatever the extension."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb"), True
    return open(path, "rb"), False


def _read_exact(fh, n: int, path: str) -> bytes:
    """Read up to n bytes; a corrupt gzip stream raises ValueError naming the file."""
    try:
        return fh.read(n)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip file ({exc})") from None


def read_idx(path) -> np.ndarray:
    """Read one IDX file (raw or gzip-compressed) into an array of its stored dtype.

    The header is read first and the size it announces, ``4 + 4 ndim + itemsize *
    prod(shape)`` bytes, is computed in exact integers and checked *before* the data is
    read: against the file size for a raw file, and against the most the compressed file
    can inflate to (``1032 x`` its size) for gzip; then exactly that many bytes are read
    (plus one, to detect trailing bytes).  So a header announcing 10^12 items, or
    dimensions whose product overflows int64, is refused without inflating anything.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Wrong magic number, unknown type code, or fewer data bytes than the header
        announces (truncated) or more (trailing garbage), or a corrupt gzip stream.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IDX file {path!r} not found")
    size = os.path.getsize(path)
    fh, gz = _open_idx(path)
    with fh:
        head = _read_exact(fh, 4, path)
        if len(head) < 4:
            raise ValueError(f"{path}: too short to be an IDX file ({len(head)} bytes)")
        if head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
            raise ValueError(f"{path}: wrong magic number {head[:4].hex()} (an IDX file starts "
                             "with 00 00, a type byte in 08/09/0b/0c/0d/0e, and the number of "
                             "dimensions)")
        dtype, ndim = _IDX_TYPES[head[2]], head[3]
        header = 4 + 4 * ndim
        dims = _read_exact(fh, 4 * ndim, path)
        if len(dims) < 4 * ndim:
            raise ValueError(f"{path}: truncated header ({4 + len(dims)} bytes, need {header})")
        shape = tuple(int.from_bytes(dims[4 * i:4 * i + 4], "big") for i in range(ndim))
        count = 1
        for v in shape:               # exact: Python integers never wrap
            count *= v
        need = header + count * dtype.itemsize
        limit = size * _GZIP_MAX_RATIO + 1024 if gz else size
        if need > limit:
            raise ValueError(f"{path}: truncated: header announces shape {shape} ({need} bytes), "
                             f"more than the file can hold ({size} bytes"
                             f"{', gzip-compressed' if gz else ''})")
        data = _read_exact(fh, need - header + 1, path)
    got = header + len(data)
    if got != need:
        what = "truncated" if got < need else "has trailing bytes"
        raise ValueError(f"{path}: {what}: header announces shape {shape} ({need} bytes), "
                         f"file has {'at least ' if got > need else ''}{got} bytes"
                         f"{' after decompression' if gz else ''}")
    return np.frombuffer(data, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _find(folder: str, names, subdirs) -> str:
    tried = []
    for sub in subdirs:
        for name in names:
            for cand in (name, name + ".gz", name.replace("-idx", ".idx")):
                p = os.path.join(folder, sub, cand)
                tried.append(p)
                if os.path.isfile(p):
                    return p
    raise FileNotFoundError(f"none of these files exist: {', '.join(tried[:6])}"
                            f"{' ...' if len(tried) > 6 else ''}")


def load_mnist(path=None, split: str = "train", normalize: bool = True):
    """MNIST images and labels from IDX files in ``path`` (or ``$NPFP_DATA``).

    Looks in ``path``, ``path/mnist`` and ``path/MNIST/raw`` for
    ``{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (optionally ``.gz``).

    Returns
    -------
    X : ndarray, shape (n, 784)
        float64 in [0, 1] when ``normalize`` (default), else uint8.
    y : ndarray of int64, shape (n,)
    """
    if split not in _MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = data_dir(path)
    subdirs = ("", "mnist", os.path.join("MNIST", "raw"))
    img_path = _find(folder, [_MNIST_FILES[split][0]], subdirs)
    lab_path = _find(folder, [_MNIST_FILES[split][1]], subdirs)
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.ndim != 3:
        raise ValueError(f"{img_path}: expected 3-D images (n, rows, cols), got shape {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{lab_path}: expected 1-D labels, got shape {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{img_path} has {images.shape[0]} images but {lab_path} has "
                         f"{labels.shape[0]} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{lab_path}: labels must be digits 0..9, got range "
                         f"[{labels.min()}, {labels.max()}]")
    X = images.reshape(images.shape[0], -1)
    X = X.astype(np.float64) / 255.0 if normalize else X.astype(np.uint8)
    return X, labels.astype(np.int64)


def load_cifar10(path=None, split: str = "train", normalize: bool = True):
    """CIFAR-10 from its binary batches in ``path`` (or ``$NPFP_DATA``).

    Looks in ``path`` and ``path/cifar-10-batches-bin`` for ``data_batch_1.bin`` ..
    ``data_batch_5.bin`` (train) or ``test_batch.bin`` (test).  Each record is one
    label byte (0..9) and 3072 pixel bytes (R, G, B planes of 32x32, row-major).

    Returns
    -------
    X : ndarray, shape (n, 3072)
        Channel-major (R plane, G plane, B plane) as stored; float64 in [0, 1] when
        ``normalize``, else uint8.
    y : ndarray of int64, shape (n,)
    """
    if split not in _CIFAR_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = data_dir(path)
    Xs, ys = [], []
    for name in _CIFAR_FILES[split]:
        p = _find(folder, [name], ("", "cifar-10-batches-bin"))
        raw = _read_bytes(p)
        if len(raw) == 0 or len(raw) % _CIFAR_RECORD:
            raise ValueError(f"{p}: size {len(raw)} is not a positive multiple of the "
                             f"{_CIFAR_RECORD}-byte CIFAR-10 record (truncated or not a binary batch)")
        rec = np.frombuffer(raw, np.uint8).reshape(-1, _CIFAR_RECORD)
        if rec[:, 0].max() > 9:
            raise ValueError(f"{p}: label byte {int(rec[:, 0].max())} > 9: not a CIFAR-10 binary "
                             "batch (CIFAR-100 binaries have two label bytes)")
        ys.append(rec[:, 0].astype(np.int64))
        Xs.append(rec[:, 1:])
    X = np.concatenate(Xs)
    X = X.astype(np.float64) / 255.0 if normalize else X
    return X, np.concatenate(ys)


def load_digits(normalize: bool = True):
    """The 8x8 handwritten digits bundled with scikit-learn (1797 images, 10 classes).

    Needs the optional extra ``digits`` (scikit-learn): ``pip install '.[digits]'`` in a
    checkout, ``pip install 'npfp[digits]'`` otherwise; the data ships inside
    scikit-learn, nothing is downloaded.

    Returns
    -------
    X : ndarray, shape (1797, 64)
        Pixel intensities 0..16, divided by 16 when ``normalize`` (default) so X is in [0, 1].
    y : ndarray of int64, shape (1797,)
    """
    from ._extras import require

    bunch = require("sklearn.datasets", "digits", "load_digits").load_digits()
    X = np.asarray(bunch.data, dtype=np.float64)
    if normalize:
        X = X / 16.0
    return X, np.asarray(bunch.target, dtype=np.int64)


#: (channels, rows, cols) of the images of each data set :func:`load_image_split` reads
IMAGE_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def detect_dataset(path) -> str:
    """``'mnist'`` or ``'cifar10'``: which training files the folder ``path`` holds.

    MNIST's ``train-images-idx3-ubyte`` (in ``path``, ``path/mnist`` or
    ``path/MNIST/raw``) is looked for first, then CIFAR-10's ``data_batch_1.bin`` (in
    ``path`` or ``path/cifar-10-batches-bin``); neither raises FileNotFoundError.
    """
    folder = data_dir(path)
    for name, files, subdirs in (
            ("mnist", [_MNIST_FILES["train"][0]], ("", "mnist", os.path.join("MNIST", "raw"))),
            ("cifar10", [_CIFAR_FILES["train"][0]], ("", "cifar-10-batches-bin"))):
        try:
            _find(folder, files, subdirs)
            return name
        except FileNotFoundError:
            continue
    raise FileNotFoundError(f"{folder!r} holds neither MNIST IDX files (train-images-idx3-ubyte) "
                            "nor CIFAR-10 binary batches (data_batch_1.bin)")


def _subsample(n_have: int, n_want, rng, what: str) -> np.ndarray:
    if n_want is None:
        return np.arange(n_have)
    if n_want > n_have:
        raise ValueError(f"{what}: asked for {n_want} images, the files hold {n_have}")
    return np.sort(rng.choice(n_have, size=n_want, replace=False))


def load_image_split(dataset: str, n_train: int, n_test=None, *, path=None, rng=None) -> dict:
    """A seeded train / test split of real images in [0, 1], flattened channel-major.

    * ``'digits'``: scikit-learn's 1797 8x8 digits (:func:`load_digits`); a random
      permutation by ``rng``, the first ``n_train`` images train, the next ``n_test``
      (None: all the rest) test.
    * ``'mnist'`` / ``'cifar10'``: the files in ``path`` (or ``$NPFP_DATA``); ``n_train``
      images drawn without replacement from the training files and ``n_test`` (None: all)
      from the test files.

    Returns a dict with ``Xtr, ytr, Xte, yte`` (labels 0..9), ``shape`` (channels,
    rows, cols) and ``dataset``.
    """
    from ._validation import check_int, check_rng

    if dataset not in IMAGE_SHAPES:
        raise ValueError(f"dataset must be one of {sorted(IMAGE_SHAPES)}, got {dataset!r}")
    n_train = check_int(n_train, "n_train", minimum=1)
    if n_test is not None:
        n_test = check_int(n_test, "n_test", minimum=1)
    rng = check_rng(rng)
    if dataset == "digits":
        X, y = load_digits()
        perm = rng.permutation(X.shape[0])
        if n_train + (n_test or 1) > X.shape[0]:
            raise ValueError(f"n_train={n_train} and n_test={n_test} exceed the "
                             f"{X.shape[0]} digits")
        tr = perm[:n_train]
        te = perm[n_train:] if n_test is None else perm[n_train:n_train + n_test]
        Xtr, ytr, Xte, yte = X[tr], y[tr], X[te], y[te]
    else:
        load = load_mnist if dataset == "mnist" else load_cifar10
        Xa, ya = load(path, "train")
        Xb, yb = load(path, "test")
        tr = _subsample(Xa.shape[0], n_train, rng, "n_train")
        te = _subsample(Xb.shape[0], n_test, rng, "n_test")
        Xtr, ytr, Xte, yte = Xa[tr], ya[tr], Xb[te], yb[te]
    return {"Xtr": Xtr, "ytr": ytr, "Xte": Xte, "yte": yte, "shape": IMAGE_SHAPES[dataset],
            "dataset": dataset}


def resolve_dataset(dataset: str, path=None) -> str:
    """The data set a real-image reproduction runs on, from its ``dataset`` and ``data_dir``.

    ``'auto'`` is the digits without ``path`` and, with ``path``, whichever of MNIST or
    CIFAR-10 the folder holds (:func:`detect_dataset`); ``'mnist'`` / ``'cifar10'`` read
    ``path`` (or ``$NPFP_DATA``); ``'digits'`` with a ``path`` is refused (it reads no file).
    """
    if dataset == "auto":
        return "digits" if path is None else detect_dataset(path)
    if dataset not in IMAGE_SHAPES:
        raise ValueError(f"dataset must be 'auto' or one of {sorted(IMAGE_SHAPES)}, "
                         f"got {dataset!r}")
    if dataset == "digits" and path is not None:
        raise ValueError(f"dataset='digits' reads no files but data_dir={path!r} was given: "
                         "set dataset=auto, mnist or cifar10, or drop data_dir")
    return dataset


def class_signs(dataset: str) -> np.ndarray:
    """The binary task of the papers' real-data runs: the sign (+-1) of each of the 10 classes.

    Digits and MNIST: odd digits +1, even -1 (the MNIST parity task of Li, Pan, Lyu, Li
    2024, Sec. 6); CIFAR-10: the last five classes +1, the first five -1 (their "first 5
    vs last 5").
    """
    if dataset not in IMAGE_SHAPES:
        raise ValueError(f"dataset must be one of {sorted(IMAGE_SHAPES)}, got {dataset!r}")
    k = np.arange(10)
    return np.where(k >= 5, 1.0, -1.0) if dataset == "cifar10" else np.where(k % 2 == 1, 1.0, -1.0)


def centred_binary_split(dataset: str, n_train: int, n_test=None, *, path=None, rng=None) -> dict:
    """The papers' binary real-image task: :func:`load_image_split`, pixels centred by the
    training mean, labels y = s[digit] with s = :func:`class_signs`.

    Returns ``Xtr, Xte`` (centred), ``ytr, yte`` (+-1), ``dtr, dte`` (the classes 0..9),
    ``s`` and ``shape``.
    """
    S = load_image_split(dataset, n_train, n_test, path=path, rng=rng)
    mean = S["Xtr"].mean(axis=0)
    s = class_signs(dataset)
    return {"Xtr": S["Xtr"] - mean, "Xte": S["Xte"] - mean, "ytr": s[S["ytr"]],
            "yte": s[S["yte"]], "dtr": S["ytr"], "dte": S["yte"], "s": s, "shape": S["shape"]}
