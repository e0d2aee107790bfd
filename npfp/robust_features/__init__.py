"""Adversarial training provably improves robustness (B. Li & Y. Li, arXiv 2410.08503).

Patch data with *robust* features (strong, on few patches) and *non-robust* features
(weak in l_inf terms, on every patch); a two-layer smoothed-ReLU CNN
(:class:`npfp.nn.PatchCNN`) learns mainly the non-robust features under standard
training and the robust ones under adversarial training.

* :mod:`npfp.robust_features.data` -- :class:`RobustFeatureData`, :func:`make_features`,
  :func:`nonrobust_directions`;
* :mod:`npfp.robust_features.measures` -- feature-learning curves and the
  model-independent attack along -v_y;
* :mod:`npfp.robust_features.experiment` -- ``npfp reproduce robust-features``.
"""
from .data import RobustFeatureData, make_features, nonrobust_directions
from .measures import (feature_correlations, feature_metrics, nonrobust_attack,
                       nonrobust_correlation, robust_correlation)

__all__ = ["RobustFeatureData", "make_features", "nonrobust_directions", "feature_correlations",
           "feature_metrics", "nonrobust_attack", "nonrobust_correlation", "robust_correlation"]
