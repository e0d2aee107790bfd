r"""The statements of Feature Purification as measurements (Allen-Zhu & Li 2020, Sec. 1-2).

Notation of the paper: ``W0`` (m, d) holds the neurons at random initialisation w_i^0,
``W`` the neurons after clean training w_i (started from w_i^0), ``W_adv`` the neurons
after adversarial training w_i' (started from w_i).  Every function below computes one
statement of the paper, per neuron, vectorised over the m rows.

* Correlation with initialisation (the principle, part 1):
  :math:`|\cos(w_i, w_i^0)|` and :math:`|\cos(w_i', w_i^0)|` are "nearly zero"
  -- :func:`init_correlation`.
* Purification decomposition (the principle, part 2):
  :math:`w_i = \beta_i w_i' + v_i` with the least-squares
  :math:`\beta_i = \langle w_i, w_i'\rangle / \|w_i'\|^2` (so :math:`v_i \perp w_i'`),
  and the claim :math:`\|\beta_i w_i'\| > \|v_i\|`, which is the same as
  :math:`|\cos(w_i, w_i')| > 1/\sqrt 2` -- :func:`purification_decomposition`,
  :func:`purified_fraction`.
* Dense mixtures (the cause): in the dictionary basis a neuron has coefficients
  :math:`c_i = M^\top w_i`; its *pure part* is its few largest coordinates, the rest is
  the *dense mixture*.  Clean training accumulates mixtures aligned with the label
  direction w*; adversarial training removes them -- :func:`dictionary_coefficients`,
  :func:`mixture_decomposition`, :func:`mixture_statistics`.
* Low-rank structure of the adversarial update (paper v4): singular values of
  :math:`W' - W` -- :func:`update_singular_values`, :func:`effective_rank`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_int

__all__ = ["row_cosines", "init_correlation", "purification_decomposition", "purified_fraction",
           "dictionary_coefficients", "mixture_decomposition", "mixture_statistics",
           "MixtureStats", "update_singular_values", "effective_rank"]

_TINY = 1e-300


def _pair(A, B, nameA: str, nameB: str):
    A = check_array(A, nameA, ndim=2)
    B = check_array(B, nameB, ndim=2, dtype=A.dtype)
    if A.shape != B.shape:
        raise ValueError(f"{nameA} and {nameB} must have the same shape (m, d), got {A.shape} "
                         f"and {B.shape}")
    return A, B


def row_cosines(A, B) -> np.ndarray:
    r"""Per-row cosine :math:`\langle a_i, b_i\rangle / (\|a_i\| \|b_i\|)`, shape (m,).

    A zero row gives cosine 0 (it has no direction to correlate).
    """
    A, B = _pair(A, B, "A", "B")
    # BEGIN SOLUTION
    num = np.einsum("ij,ij->i", A, B)
    den = np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1)
    return np.where(den > 0, num / np.maximum(den, _TINY), 0.0)
    # END SOLUTION


def init_correlation(W, W0) -> np.ndarray:
    r"""Correlation of each neuron with its initialisation, :math:`|\cos(w_i, w_i^0)|`, shape (m,).

    Allen-Zhu & Li (Sec. 1, the principle): both clean training and adversarial training
    learn features with *nearly zero* correlation with the random initialisation, i.e.
    the learned neurons are not "lazy" perturbations of w_i^0 (as they would be in the
    NTK regime, see :class:`npfp.purification.lower_bound.NTKModel`).
    """
    # BEGIN SOLUTION
    return np.abs(row_cosines(W, W0))
    # END SOLUTION


def purification_decomposition(W, W_adv):
    r"""Decompose each clean neuron along its adversarially trained version.

    .. math::

        w_i = \beta_i w_i' + v_i, \qquad
        \beta_i = \frac{\langle w_i, w_i'\rangle}{\|w_i'\|^2}, \qquad v_i \perp w_i'

    (least squares in :math:`\beta_i`; Allen-Zhu & Li, Sec. 1, the principle).

    Parameters
    ----------
    W : ndarray (m, d)
        Neurons after clean training, w_i.
    W_adv : ndarray (m, d)
        The same neurons after adversarial training, w_i'.

    Returns
    -------
    beta : ndarray (m,)
    V : ndarray (m, d)
        The residuals v_i.
    pure_norm : ndarray (m,)
        :math:`\|\beta_i w_i'\|`.
    residual_norm : ndarray (m,)
        :math:`\|v_i\|`.
    """
    W, W_adv = _pair(W, W_adv, "W", "W_adv")
    # BEGIN SOLUTION
    sq = np.einsum("ij,ij->i", W_adv, W_adv)
    beta = np.where(sq > 0, np.einsum("ij,ij->i", W, W_adv) / np.maximum(sq, _TINY), 0.0)
    P = beta[:, None] * W_adv
    V = W - P
    return beta, V, np.linalg.norm(P, axis=1), np.linalg.norm(V, axis=1)
    # END SOLUTION


def purified_fraction(W, W_adv) -> float:
    r"""Fraction of neurons with :math:`\|\beta_i w_i'\| > \|v_i\|` (the purification claim).

    Equivalent to :math:`|\cos(w_i, w_i')| > 1/\sqrt 2`: the clean neuron is *mostly*
    its purified version plus a smaller residual (Allen-Zhu & Li, Sec. 1).
    """
    # BEGIN SOLUTION
    _, _, pure, resid = purification_decomposition(W, W_adv)
    return float(np.mean(pure > resid)) if pure.size else float("nan")
    # END SOLUTION


def dictionary_coefficients(W, M) -> np.ndarray:
    r"""Coefficients of every neuron in the dictionary basis, :math:`C = W M`.

    Row i is :math:`c_i = M^\top w_i` (Allen-Zhu & Li, Sec. 1: neurons seen as
    combinations of the features M_j).

    Parameters
    ----------
    W : ndarray (m, d)
    M : ndarray (d, D)
        The dictionary (columns are the features M_j).

    Returns
    -------
    C : ndarray (m, D)
    """
    W = check_array(W, "W", ndim=2)
    M = check_array(M, "M", ndim=2, dtype=W.dtype)
    if M.shape[0] != W.shape[1]:
        raise ValueError(f"M must have {W.shape[1]} rows (the input dimension of W), got {M.shape}")
    return W @ M


def mixture_decomposition(C, n_pure: int = 1):
    r"""Split dictionary coefficients into the pure part and the dense mixture.

    The pure part of neuron i keeps its ``n_pure`` largest coordinates :math:`|c_{ij}|`
    (the features it has learned); the mixture is everything else (Allen-Zhu & Li's
    "small dense mixtures", Sec. 1).

    Returns
    -------
    pure : ndarray (m, D)
    mixture : ndarray (m, D)
        ``pure + mixture == C``.
    """
    C = check_array(C, "C", ndim=2)
    n_pure = check_int(n_pure, "n_pure", minimum=0, maximum=C.shape[1])
    top = np.argsort(-np.abs(C), axis=1)[:, :n_pure]
    mask = np.zeros(C.shape, dtype=bool)
    np.put_along_axis(mask, top, True, axis=1)
    return np.where(mask, C, 0.0), np.where(mask, 0.0, C)


@dataclass(frozen=True)
class MixtureStats:
    """Per-neuron dense-mixture statistics (arrays of shape (m,)).

    Attributes
    ----------
    pure_energy : fraction of ||c_i||^2 in the top ``n_pure`` coordinates.
    mixture_energy : 1 - pure_energy, the energy of the dense mixture.
    mixture_alignment : |cos(mixture_i, w*)|, alignment of the mixture with the label direction.
    n_pure : int
    """

    pure_energy: np.ndarray
    mixture_energy: np.ndarray
    mixture_alignment: np.ndarray
    n_pure: int

    def medians(self) -> dict:
        return {"pure_energy": float(np.median(self.pure_energy)),
                "mixture_energy": float(np.median(self.mixture_energy)),
                "mixture_alignment": float(np.median(self.mixture_alignment))}


def mixture_statistics(W, M, w_star, n_pure: int = 1) -> MixtureStats:
    r"""Dense-mixture statistics of neurons W in the dictionary M against the truth w*.

    .. math::

        \text{mixture energy}_i = \frac{\|c_i^{\mathrm{mix}}\|^2}{\|c_i\|^2}, \qquad
        \text{alignment}_i = \frac{|\langle c_i^{\mathrm{mix}}, w^*\rangle|}
                                  {\|c_i^{\mathrm{mix}}\|\,\|w^*\|}

    A clean-trained neuron is a feature plus a dense mixture *aligned with w** (that
    alignment is what an attack along :math:`M w^*` exploits); adversarial training drives
    the alignment down (Allen-Zhu & Li, Sec. 1: "removes the mixtures").
    """
    C = dictionary_coefficients(W, M)
    w_star = check_array(w_star, "w_star", shape=(C.shape[1],))
    pure, mix = mixture_decomposition(C, n_pure)
    tot = np.einsum("ij,ij->i", C, C)
    pe = np.where(tot > 0, np.einsum("ij,ij->i", pure, pure) / np.maximum(tot, _TINY), 0.0)
    mnorm = np.linalg.norm(mix, axis=1)
    align = np.abs(mix @ w_star) / np.maximum(mnorm * np.linalg.norm(w_star), _TINY)
    return MixtureStats(pure_energy=pe, mixture_energy=1.0 - pe,
                        mixture_alignment=np.where(mnorm > 0, align, 0.0), n_pure=n_pure)


def update_singular_values(W, W_adv) -> np.ndarray:
    r"""Singular values of the adversarial update :math:`W' - W`, decreasing (paper v4)."""
    W, W_adv = _pair(W, W_adv, "W", "W_adv")
    return np.linalg.svd(W_adv - W, compute_uv=False)


def effective_rank(s, energy: float = 0.9) -> int:
    r"""Smallest r with :math:`\sum_{j \le r} s_j^2 \ge` ``energy`` :math:`\sum_j s_j^2`."""
    s = check_array(s, "s", ndim=1)
    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy}")
    e = np.cumsum(np.sort(s)[::-1] ** 2)
    if e.size == 0 or e[-1] == 0:
        return 0
    return int(np.searchsorted(e / e[-1], energy - 1e-12) + 1)
