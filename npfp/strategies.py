"""Hypothesis strategies for property-based tests of npfp models and claims.

npfp's own tests and the executable claims of :mod:`npfp.claims` draw their examples
from these strategies; they are exported so that you can write your own properties::

    from hypothesis import given
    from npfp import strategies as nst
    from npfp.gradcheck import check_model_gradients

    @given(nst.models_and_data(kind="symmetric"))
    def test_backward_matches_finite_differences(case):
        errors = check_model_gradients(case.model, case.X, case.y)
        assert max(errors.values()) < 1e-5

Two layers, so that the same examples can be built without hypothesis:

* **builders** (plain NumPy, no hypothesis needed): :func:`make_linear_problem`,
  :func:`make_model_case` turn a few numbers and a seed into a model and data;
* **strategies** (need ``hypothesis``, a test-only dependency): :func:`seeds`,
  :func:`shapes`, :func:`norms`, :func:`eps_values`, :func:`float_arrays`,
  :func:`binary_labels`, :func:`linear_problems`, :func:`models_and_data` draw those numbers
  and call the builders.

Hypothesis is imported only when a strategy is called: ``import npfp.strategies`` works in
a plain install, and calling a strategy without hypothesis raises an ``ImportError`` that
says how to install it (``pip install "npfp[test]"``).

Drawing seeds rather than every array entry keeps examples fast (a 64 x 32 weight matrix is
one integer to shrink, not 2048 floats) while still exercising shapes, scales and norms.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_int, check_nonnegative, check_rng

__all__ = [
    "LinearProblem", "ModelCase", "make_linear_problem", "make_model_case", "MODEL_KINDS",
    "seeds", "shapes", "norms", "eps_values", "float_arrays", "binary_labels",
    "linear_problems", "models_and_data",
]

#: the model families :func:`make_model_case` can build
MODEL_KINDS = ("linear", "symmetric", "twolayer", "twolayer_multiclass", "patchcnn")


def _hypothesis():
    """Import hypothesis.strategies or explain how to get it."""
    from ._extras import require

    return require("hypothesis.strategies", "test", "npfp.strategies")


# ---------------------------------------------------------------------------------
# Builders: plain NumPy
# ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinearProblem:
    """A binary linear model f(x) = <w, x> + b with data X (n, d) and labels y in {-1, +1}.

    The labels are the model's own predictions flipped with probability ``flip``, so
    that both correctly and wrongly classified points occur.
    """

    model: object
    X: np.ndarray
    y: np.ndarray

    @property
    def w(self) -> np.ndarray:
        return self.model.params["w"]

    @property
    def b(self) -> float:
        return float(self.model.params["b"])


@dataclass(frozen=True)
class ModelCase:
    """A model with data (X, y) for its task, drawn away from the activation's kinks."""

    kind: str
    model: object
    X: np.ndarray
    y: np.ndarray


def make_linear_problem(n: int, d: int, seed, *, scale: float = 1.0, bias: bool = True,
                        flip: float = 0.2) -> LinearProblem:
    """Build a random binary linear problem (see :class:`LinearProblem`).

    Parameters
    ----------
    n, d : int
        Number of samples and input dimension.
    seed : int or Generator
    scale : float
        Std of the entries of X.
    bias : bool
        Draw a non-zero intercept b.
    flip : float in [0, 1]
        Probability that a label disagrees with the model.
    """
    from .nn import LinearModel

    n = check_int(n, "n", minimum=1)
    d = check_int(d, "d", minimum=1)
    scale = check_nonnegative(scale, "scale")
    rng = check_rng(seed, "seed")
    w = rng.standard_normal(d)
    while np.linalg.norm(w) < 1e-3:  # a zero weight vector has no worst-case direction
        w = rng.standard_normal(d)
    b = float(rng.standard_normal()) if bias else 0.0
    X = rng.standard_normal((n, d)) * scale
    y = np.where(X @ w + b > 0, 1.0, -1.0)
    y = np.where(rng.random(n) < flip, -y, y)
    return LinearProblem(LinearModel(w, b), X, y)


def make_model_case(kind: str, n: int, d: int, m: int, seed, *, n_classes: int = 3,
                    P: int = 3, init_scale: float = 0.5) -> ModelCase:
    """Build one model of family ``kind`` with matching random data.

    Parameters
    ----------
    kind : {'linear', 'symmetric', 'twolayer', 'twolayer_multiclass', 'patchcnn'}
        :class:`~npfp.nn.LinearModel`, :class:`~npfp.nn.SymmetricReLUNet` (with a positive
        threshold b_i), binary or K-class :class:`~npfp.nn.TwoLayerNet`,
        K-class :class:`~npfp.nn.PatchCNN` (smoothed ReLU).
    n, d, m : int
        Samples, input (patch) dimension, neurons (filters per class).
    seed : int or Generator
    n_classes : int
        K for the multi-class models.
    P : int
        Patches per input for the patch CNN.
    init_scale : float
        Std of the weight entries; large enough that activations are not all tiny.

    Returns
    -------
    ModelCase
        X may still lie near a kink; :func:`models_and_data` filters those out with
        :func:`npfp.gradcheck.is_near_kink`.
    """
    from .nn import LinearModel, PatchCNN, SymmetricReLUNet, TwoLayerNet

    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {list(MODEL_KINDS)}, got {kind!r}")
    n = check_int(n, "n", minimum=1)
    d = check_int(d, "d", minimum=1)
    m = check_int(m, "m", minimum=1)
    rng = check_rng(seed, "seed")
    s = init_scale / np.sqrt(d)
    if kind == "patchcnn":
        model = PatchCNN(P, d, m, n_classes=n_classes, init_scale=s, rng=rng, rho=0.3, q=3)
        X = rng.standard_normal((n, P, d))
    else:
        X = rng.standard_normal((n, d))
        if kind == "linear":
            model = LinearModel(rng.standard_normal(d), float(rng.standard_normal()))
        elif kind == "symmetric":
            model = SymmetricReLUNet(d, m, init_scale=init_scale, bias=0.1, train_bias=True,
                                     rng=rng)
        elif kind == "twolayer":
            model = TwoLayerNet(d, m, init_scale=init_scale, train_second_layer=True, rng=rng)
        else:
            model = TwoLayerNet(d, m, n_classes=n_classes, init_scale=init_scale,
                                train_second_layer=True, rng=rng)
    if model.task == "binary":
        y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    else:
        y = rng.integers(0, model.n_classes, size=n)
    return ModelCase(kind, model, X, y)


# ---------------------------------------------------------------------------------
# Strategies: need hypothesis
# ---------------------------------------------------------------------------------
def seeds():
    """Integer seeds for ``np.random.default_rng`` (0 .. 2**32 - 1)."""
    return _hypothesis().integers(0, 2**32 - 1)


def shapes(min_n: int = 1, max_n: int = 16, min_d: int = 1, max_d: int = 12):
    """Pairs (n, d): number of samples and input dimension."""
    st = _hypothesis()
    return st.tuples(st.integers(min_n, max_n), st.integers(min_d, max_d))


def norms(include_l1: bool = False):
    """Threat-model norms: 'l2' and 'linf' (and 'l1' when asked)."""
    choices = ("l2", "linf", "l1") if include_l1 else ("l2", "linf")
    return _hypothesis().sampled_from(choices)


def eps_values(min_value: float = 0.0, max_value: float = 2.0, allow_zero: bool = True):
    """Attack radii eps in [min_value, max_value]; eps = 0 included when allowed."""
    st = _hypothesis()
    lo = max(float(min_value), 0.0)
    if not allow_zero and lo == 0.0:
        lo = 1e-3
    values = st.floats(lo, float(max_value), allow_nan=False, allow_infinity=False)
    return st.one_of(st.just(0.0), values) if allow_zero and lo == 0.0 else values


def float_arrays(shape, min_value: float = -3.0, max_value: float = 3.0, dtype=np.float64):
    """Finite float arrays of a fixed ``shape`` with entries in [min_value, max_value]."""
    st = _hypothesis()
    from hypothesis.extra.numpy import arrays

    elements = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False,
                         width=64 if np.dtype(dtype) == np.float64 else 32)
    return arrays(np.dtype(dtype), shape, elements=elements)


def binary_labels(n: int):
    """Arrays of n labels in {-1, +1} (float64)."""
    st = _hypothesis()
    return st.lists(st.sampled_from((-1.0, 1.0)), min_size=n, max_size=n).map(np.array)


def linear_problems(max_n: int = 16, max_d: int = 12, bias: bool = True):
    """:class:`LinearProblem` instances: a random linear model with data and labels."""
    st = _hypothesis()
    return st.builds(lambda nd, seed, scale: make_linear_problem(nd[0], nd[1], seed,
                                                                 scale=scale, bias=bias),
                     shapes(1, max_n, 1, max_d), seeds(), st.sampled_from((0.1, 1.0, 10.0)))


def models_and_data(kind=None, max_n: int = 6, max_d: int = 6, max_m: int = 6,
                    h: float = 1e-6):
    """:class:`ModelCase` instances whose activation inputs are away from every kink.

    Parameters
    ----------
    kind : str or sequence of str, optional
        Model families (see :data:`MODEL_KINDS`); default all of them.
    max_n, max_d, max_m : int
        Largest number of samples, input dimension, neurons.
    h : float
        Finite-difference step the examples must tolerate:
        ``not is_near_kink(model, X, h)`` holds for every example drawn.
    """
    st = _hypothesis()
    from .gradcheck import is_near_kink

    kinds = MODEL_KINDS if kind is None else ((kind,) if isinstance(kind, str) else tuple(kind))
    for k in kinds:
        if k not in MODEL_KINDS:
            raise ValueError(f"kind must be in {list(MODEL_KINDS)}, got {k!r}")
    case = st.builds(make_model_case, st.sampled_from(kinds), st.integers(1, max_n),
                     st.integers(1, max_d), st.integers(1, max_m), seeds())
    return case.filter(lambda c: not is_near_kink(c.model, c.X, h))
