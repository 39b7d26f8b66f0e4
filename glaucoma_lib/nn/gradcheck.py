"""Gradient checking: back-propagated gradients against central differences, the test that the
hand-written backward passes are right.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from glaucoma_lib.nn.network import DeepConvNet, NetworkConfig, build_network


def numerical_gradient(f: Callable[[], float], array: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Central differences of f() w.r.t. `array`, perturbing it in place (use float64)."""
    grad = np.zeros_like(array)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-8) -> float:
    """||a - n|| / max(||a|| + ||n||, floor): scale-free and not fooled by single tiny entries.

    The floor matters only for gradients that are exactly zero (a bias followed by BatchNorm):
    there the numerical estimate is pure rounding noise (~1e-11) and a plain ratio would be ~1.
    """
    denom = max(float(np.linalg.norm(analytic) + np.linalg.norm(numeric)), floor)
    return float(np.linalg.norm(analytic - numeric)) / denom


def gradient_check_case(
    seed: int = 0, batchnorm: bool = False, class_weights: tuple[float, float] | None = None
) -> tuple[DeepConvNet, np.ndarray, np.ndarray]:
    """A tiny float64 DeepConvNet (16x16 input, 2-3 channels, dropout off) and a batch for it.

    Biases are drawn at random: with the zero biases of a fresh network, outputs of the pad-2
    convolution that see only padding are exactly 0, ReLU's kink, where the derivative is
    undefined and central differences report 1/2 of it.
    """
    config = NetworkConfig(input_dim=(3, 16, 16), channels=(2, 3, 2, 3, 2, 2), hidden_size=6,
                           dropout_ratio=0.0, dtype="float64", seed=seed, batchnorm=batchnorm,
                           class_weights=class_weights)
    network = build_network(config)
    rng = np.random.default_rng(seed)
    for key, value in network.params.items():
        if key.startswith("b"):
            value[...] = rng.normal(0.0, 0.1, value.shape)
    return network, rng.standard_normal((4, 3, 16, 16)), np.array([0, 1, 1, 0])


def gradient_check(network: DeepConvNet, x: np.ndarray, t: np.ndarray, eps: float = 1e-5) -> dict:
    """Relative error between back-propagated and numerical gradients, per parameter.

    Needs a float64 network without dropout (dropout_ratio=0), since a fresh dropout mask per
    forward pass would make the loss random; BatchNorm runs in training mode, as in gradient().
    """
    if network.dtype != np.float64:
        raise ValueError("gradient_check needs a float64 network (NetworkConfig(dtype='float64'))")
    if network.config.dropout_ratio > 0:
        raise ValueError("gradient_check needs dropout off (NetworkConfig(dropout_ratio=0))")
    saved = {k: v.copy() for k, v in network.buffers.items()}
    analytic = network.gradient(x, t)
    errors = {}
    for key, param in network.params.items():
        numeric = numerical_gradient(lambda: network.loss(x, t), param, eps)
        errors[key] = relative_error(analytic[key], numeric)
    for key, value in saved.items():  # the many loss() calls moved the BatchNorm running stats
        network.buffers[key][...] = value
    return errors
