"""Input validation at the library's boundary.

Every public function checks its arguments with these helpers, so that bad input
fails early with a message that names the argument, says what was expected and what
was given.  Nothing is silently coerced: integer arrays are accepted as data and
converted to float64 (that is not a loss of information), but shapes, NaN/inf values
and label sets are checked, never repaired.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "check_array",
    "check_binary_labels",
    "check_class_labels",
    "check_positive",
    "check_nonnegative",
    "check_int",
    "check_rng",
    "check_norm",
    "check_bounds",
    "check_bool",
    "check_choice",
    "check_sequence",
    "float_dtype",
]

NORMS = ("l2", "linf", "l1")


def float_dtype(dtype) -> np.dtype:
    """Return ``dtype`` if it is float32/float64, else float64."""
    dtype = np.dtype(dtype)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def check_array(x, name: str, *, ndim=None, dtype=None, finite: bool = True,
                shape=None) -> np.ndarray:
    """Validate a numeric array.

    Parameters
    ----------
    x : array_like
        The value to check.
    name : str
        Argument name used in error messages.
    ndim : int or tuple of int, optional
        Allowed number of dimensions.
    dtype : numpy dtype, optional
        Target float dtype.  By default float32 input stays float32 and anything
        else numeric becomes float64.
    finite : bool
        Reject NaN and inf.
    shape : tuple, optional
        Required shape; ``None`` entries match any size.

    Returns
    -------
    ndarray
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular numeric array: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    target = float_dtype(arr.dtype) if dtype is None else np.dtype(dtype)
    arr = arr.astype(target, copy=False)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must be {want}-dimensional, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a
                                         for s, a in zip(shape, arr.shape)):
            want = tuple("any" if s is None else s for s in shape)
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if finite and arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values")
    return arr


def _label_vector(y, name: str, n: int | None, against: str) -> np.ndarray:
    """A 1-D label array with ``n`` entries (the rows of the array named ``against``)."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} labels but {against} has {n} rows")
    return arr


def check_binary_labels(y, name: str = "y", n: int | None = None, against: str = "X") -> np.ndarray:
    """Binary labels must be a 1-D array with values in {-1, +1}.

    ``n`` is the expected number of labels, taken from the array named ``against``.
    """
    arr = _label_vector(y, name, n, against)
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be numeric with values in {{-1, +1}}, got dtype {arr.dtype}")
    if arr.size and not np.all((arr == 1) | (arr == -1)):
        bad = np.unique(arr[(arr != 1) & (arr != -1)])[:5]
        raise ValueError(f"{name} must contain only -1 and +1 (binary labels), found {bad.tolist()}")
    return arr.astype(np.float64, copy=False)


def check_class_labels(y, n_classes: int, name: str = "y", n: int | None = None, against: str = "X") -> np.ndarray:
    """Class labels must be a 1-D integer array with values in [0, n_classes).

    ``n`` is the expected number of labels, taken from the array named ``against``.
    """
    arr = _label_vector(y, name, n, against)
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and arr.size and np.all(arr == np.round(arr)):
            raise TypeError(f"{name} must be an integer array of class indices, got dtype "
                            f"{arr.dtype} (convert with y.astype(int))")
        if arr.size:
            raise TypeError(f"{name} must be an integer array of class indices, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"{name} must be class indices in [0, {n_classes}), "
                         f"got values in [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64, copy=False)


def check_positive(value, name: str, *, allow_zero: bool = False) -> float:
    """A real scalar that must be > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value}")
    if v < 0 or (v == 0 and not allow_zero):
        cmp = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {cmp}, got {value}")
    return v


def check_nonnegative(value, name: str) -> float:
    """A real scalar that must be >= 0."""
    return check_positive(value, name, allow_zero=True)


def check_int(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer scalar within optional bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {v}")
    return v


def check_rng(rng, name: str = "rng") -> np.random.Generator:
    """Accept a ``np.random.Generator`` or an integer seed (or None for a fresh one)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"{name} must be a numpy Generator or an integer seed, got {type(rng).__name__}")


def check_norm(norm, name: str = "norm", allowed=NORMS) -> str:
    """The threat-model norm: one of 'l2', 'linf', 'l1'."""
    if norm not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {norm!r}")
    return norm


def check_bounds(bounds, name: str = "bounds"):
    """``None`` or a pair ``(lo, hi)`` of scalars with lo <= hi."""
    if bounds is None:
        return None
    try:
        lo, hi = bounds
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be None or a pair (lo, hi), got {bounds!r}") from None
    lo = check_array(lo, f"{name}[0]")
    hi = check_array(hi, f"{name}[1]")
    if np.any(lo > hi):
        raise ValueError(f"{name} must satisfy lo <= hi, got lo={lo} > hi={hi}")
    return lo, hi


def check_bool(value, name: str) -> bool:
    """A real bool (not 0/1, not a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_choice(value, name: str, allowed) -> str:
    """One of the values in ``allowed``."""
    if value not in tuple(allowed):
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def check_sequence(values, name: str, check, *, min_len: int = 1) -> tuple:
    """A tuple or list of at least ``min_len`` entries, each passed through
    ``check(entry, f"{name} entry")`` (e.g. a bound :func:`check_int`)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of values, got {type(values).__name__} {values!r}")
    if len(values) < min_len:
        raise ValueError(f"{name} must have at least {min_len} entr{'y' if min_len == 1 else 'ies'}, "
                         f"got {tuple(values)!r}")
    return tuple(check(v, f"{name} entry") for v in values)


def check_data_dir(data_dir, name: str = "data_dir"):
    """``None`` or an existing folder (a real-image run's ``data_dir``)."""
    import os

    if data_dir is not None and (not isinstance(data_dir, str) or not os.path.isdir(data_dir)):
        raise ValueError(f"{name} must be None or an existing folder, got {data_dir!r}")
    return data_dir


def check_radii(radii, name: str, *, contains: float, contains_name: str) -> tuple:
    """Radii >= 0 increasing from 0 that include ``contains`` (the radius the claims read)."""
    r = np.asarray(check_sequence(radii, name, check_nonnegative), dtype=float)
    if np.any(np.diff(r) <= 0) or r[0] != 0.0:
        raise ValueError(f"{name} must increase from 0, got {radii!r}")
    if contains not in radii:
        raise ValueError(f"{contains_name} ({contains}) must be one of {name} {radii}")
    return tuple(radii)
