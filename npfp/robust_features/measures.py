r"""Feature-learning measurements (B. Li & Y. Li, arXiv 2410.08503, Sec. 4-5).

The paper tracks, for each class j, how much the filters w_{j,r} of the two-layer CNN
:class:`npfp.nn.PatchCNN` have learned each feature:

.. math::

    \Lambda_j = \max_{r \in [m]} \langle w_{j,r}, u_j\rangle \;\text{(robust)},\qquad
    \Gamma_j = \max_{r \in [m]} \langle w_{j,r}, v_j\rangle \;\text{(non-robust)}.

Standard training grows Gamma much faster than Lambda; adversarial training grows Lambda
and suppresses Gamma.  We report the class average of each.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array
from ..attacks import fixed_direction_attack
from .data import RobustFeatureData, nonrobust_directions

__all__ = ["feature_correlations", "robust_correlation", "nonrobust_correlation",
           "feature_metrics", "nonrobust_attack"]


def feature_correlations(model, features) -> np.ndarray:
    r"""max_r <w_{j,r}, f_j> for every class j, shape (K,).

    Parameters
    ----------
    model : PatchCNN
        K-class patch CNN with weights W of shape (K, m, d).
    features : ndarray (K, d)
        One feature direction per class (u or v).
    """
    W = model.params["W"]
    F = check_array(features, "features", shape=(W.shape[0], W.shape[2]))
    return np.max(np.einsum("kmd,kd->km", W, F), axis=1)


def robust_correlation(model, data: RobustFeatureData) -> float:
    """Class average of max_r <w_{j,r}, u_j> (robust-feature learning)."""
    return float(np.mean(feature_correlations(model, data.u)))


def nonrobust_correlation(model, data: RobustFeatureData) -> float:
    """Class average of max_r <w_{j,r}, v_j> (non-robust-feature learning)."""
    return float(np.mean(feature_correlations(model, data.v)))


def feature_metrics(data: RobustFeatureData) -> dict:
    """``metrics=`` for :func:`npfp.training.fit`: both correlations after every epoch."""
    return {"robust_corr": lambda m: robust_correlation(m, data),
            "nonrobust_corr": lambda m: nonrobust_correlation(m, data)}


def nonrobust_attack(model, X, y, data: RobustFeatureData, eps: float):
    r"""The model-independent attack Delta_p = -eps sign(v_y) on every patch (l_inf radius eps).

    Uses :func:`npfp.attacks.fixed_direction_attack` with the directions of
    :func:`npfp.robust_features.data.nonrobust_directions`; returns its
    :class:`npfp.attacks.AttackResult`.
    """
    return fixed_direction_attack(model, X, y, nonrobust_directions(data.v, data.P), eps,
                                  norm="linf", per="label")
