"""Why robust generalization is difficult: expressive power (Li, Jin, Zhong, Hopcroft, Wang; NeurIPS 2022).

* :mod:`npfp.expressivity.data` -- the 2 eps-separated grid hard instance and its
  k-dimensional (manifold) version embedded in R^d;
* :mod:`npfp.expressivity.distances` -- distances between point sets (separation, d(x, S));
* :mod:`npfp.expressivity.robust_classifier` -- the distance-ratio robust classifier f*,
  its Lipschitz/robustness properties and its exact l2 robust accuracy;
* :mod:`npfp.expressivity.experiment` -- adversarial training of two-layer networks of
  growing width: robust training accuracy vs robust test accuracy, against d and k.
"""
from .data import (LABELLINGS, HardInstance, ManifoldHardInstance, grid_indices, grid_size,
                   separation)
from .robust_classifier import (DistanceRatioClassifier, pairwise_distances,
                                robust_accuracy_bounds, set_distance)

__all__ = ["LABELLINGS", "HardInstance", "ManifoldHardInstance", "grid_indices", "grid_size",
           "separation", "DistanceRatioClassifier", "pairwise_distances",
           "robust_accuracy_bounds", "set_distance"]
