"""Feature Averaging (B. Li, Z. Pan, K. Lyu, J. Li; arXiv 2410.10322, ICLR 2025).

Gradient descent on a two-layer ReLU network for a binary task whose classes are unions
of clusters with orthogonal centres learns neurons that *average* the features of a
class; such a network breaks at l2 radius ~ sqrt(d/k).  Training a k-class network on
the cluster index instead learns each feature separately, and the binary classifier
derived from it is robust to a radius of order sqrt(d).

Modules: :mod:`.data` (Definition 3.1), :mod:`.learners` (binary and k-class networks,
the derived classifier), :mod:`.reference` (f_FA, f_FD and exact radii),
:mod:`.measures` (cosine matrices, attack directions), :mod:`.experiment` (synthetic
reproduction), :mod:`.digits` (8x8 handwritten digits, parity task).
"""
from .data import MultiClusterData, make_cluster_features
from .learners import (DerivedBinaryClassifier, binary_network, calibrated_bias, multiclass_network, neuron_classes,
                       neuron_signs, train_binary, train_multiclass)
from .measures import (averaged_feature_direction, cosine_block_summary, cosine_matrix,
                       decoupled_feature_directions, group_equivalent_weights,
                       pairwise_feature_directions)
from .reference import (fa_center_radius, fd_center_radius, feature_averaging_network,
                        feature_decoupling_network, orthogonal_relu_radius,
                        robust_accuracy_from_radii)

__all__ = ["MultiClusterData", "make_cluster_features", "DerivedBinaryClassifier",
           "binary_network", "calibrated_bias", "multiclass_network", "neuron_classes", "neuron_signs",
           "train_binary", "train_multiclass", "averaged_feature_direction",
           "cosine_block_summary", "cosine_matrix", "decoupled_feature_directions",
           "group_equivalent_weights", "pairwise_feature_directions", "fa_center_radius", "fd_center_radius",
           "feature_averaging_network", "feature_decoupling_network",
           "orthogonal_relu_radius", "robust_accuracy_from_radii"]
