"""Clean generalisation and robust overfitting, CGRO (B. Li & Y. Li, arXiv 2306.01271).

Adversarial training on patch data reaches ~100% robust *training* accuracy and good
clean test accuracy, but poor robust *test* accuracy: the network learns the true feature
only partially and memorises the noise of the training-adversarial examples.

* :mod:`npfp.cgro.data` -- :class:`CGROData` (signal patch alpha y w*, noise patches
  orthogonal to w*);
* :mod:`npfp.cgro.model` -- :class:`OddPowerCNN`, f(X) = sum_r sum_p sign(z)|z|^q;
* :mod:`npfp.cgro.attack` -- :class:`SubspaceAttack` (the span(w*) threat model on top of
  :mod:`npfp.attacks`);
* :mod:`npfp.cgro.measures` -- U, V_i, global flatness;
* :mod:`npfp.cgro.experiment` -- ``npfp reproduce cgro``.
"""
from .attack import SignalPatchAttack, SubspaceAttack
from .data import CGROData
from .measures import global_flatness, margin_shares, noise_memorisation, true_feature_learning
from .model import OddPowerCNN, odd_power, odd_power_grad

__all__ = ["CGROData", "OddPowerCNN", "odd_power", "odd_power_grad", "SubspaceAttack", "SignalPatchAttack",
           "true_feature_learning", "noise_memorisation", "margin_shares", "global_flatness"]
