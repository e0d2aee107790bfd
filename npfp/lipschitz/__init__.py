"""Certified l_inf robustness with l_inf-dist neurons (Zhang et al. 2021), EMA and ensembles.

* :mod:`npfp.lipschitz.layers` -- the l_inf-dist layer and its l_p relaxation;
* :mod:`npfp.lipschitz.model` -- :class:`LinfDistNet` and :class:`Ensemble`;
* :mod:`npfp.lipschitz.certify` -- certified margin, radius and accuracy;
* :mod:`npfp.lipschitz.train` -- hinge / CE training, the p schedule, Adam, EMA;
* :mod:`npfp.lipschitz.experiment` -- ``npfp reproduce certified`` on the digits.

See ``docs/papers/certified.md``.
"""
from .certify import (certified_accuracy, certified_accuracy_curve, certified_margin,
                      certified_mask, certified_radius)
from .layers import linf_dist, linf_dist_backward, lp_dist, lp_dist_backward
from .model import Ensemble, LinfDistNet
from .train import EMA, Adam, hinge_margin_loss, p_schedule, scaled_cross_entropy, train_linf_dist

__all__ = ["linf_dist", "linf_dist_backward", "lp_dist", "lp_dist_backward", "LinfDistNet",
           "Ensemble", "certified_margin", "certified_radius", "certified_mask",
           "certified_accuracy", "certified_accuracy_curve", "EMA", "Adam", "hinge_margin_loss",
           "scaled_cross_entropy", "p_schedule", "train_linf_dist"]
