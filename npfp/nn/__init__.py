"""The engine's neural-network building blocks: activations, losses, networks.

Every network has a hand-written ``forward(X) -> (out, cache)`` and
``backward(dout, cache) -> (grads, dX)``; see :mod:`npfp.nn.models`.
"""
from .activations import (Activation, get_activation, relu, relu_grad, relu_pow, relu_pow_grad,
                          smoothed_relu, smoothed_relu_grad)
from .losses import logistic_loss, per_sample_loss, sigmoid, softmax, softmax_cross_entropy
from .models import (LinearModel, Model, PatchCNN, SymmetricReLUNet, TwoLayerNet, correct, decide,
                     input_gradient, loss_and_grads)

__all__ = [
    "Activation", "get_activation", "relu", "relu_grad", "relu_pow", "relu_pow_grad",
    "smoothed_relu", "smoothed_relu_grad", "logistic_loss", "per_sample_loss", "sigmoid",
    "softmax", "softmax_cross_entropy", "LinearModel", "Model", "PatchCNN",
    "SymmetricReLUNet", "TwoLayerNet", "input_gradient", "loss_and_grads", "correct", "decide",
]
