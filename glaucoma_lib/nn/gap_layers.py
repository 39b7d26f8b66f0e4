"""Layers of the global-average-pooling CNN, in the style of layers.py: one class each with
forward(x, train_flg=False)/backward, caches kept only for training.

- PerImageStandardize: each image's channels to zero mean and unit variance over its own
  pixels (exposure and colour differences between photographs removed before the first conv).
- GlobalAveragePooling: (N, H, W, C) -> (N, C), the mean over the map; what lets a small
  network's last layer see the whole crop with few weights.
- SmoothedSoftmaxWithLoss: softmax cross-entropy against label-smoothed targets
  (1 - eps) * one_hot + eps / K, which keeps a small network from over-confident logits.
"""

from __future__ import annotations

import numpy as np


class PerImageStandardize:
    """(x - mean) / sqrt(var + eps), mean and variance over the H and W axes of each image and
    channel of a channels-last (N, H, W, C) batch; no parameters. The backward pass is the
    instance-normalisation gradient."""

    cache = ("xn", "inv_std")

    def __init__(self, eps: float = 1e-5):
        self.eps = eps
        self.xn: np.ndarray | None = None
        self.inv_std: np.ndarray | None = None

    def forward(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        xc = x - x.mean(axis=(1, 2), keepdims=True)
        var = (xc * xc).mean(axis=(1, 2), keepdims=True)
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)
        xn = xc * inv_std
        if train_flg:
            self.xn, self.inv_std = xn, inv_std
        return xn

    def backward(self, dout: np.ndarray) -> np.ndarray:
        proj = (dout * self.xn).mean(axis=(1, 2), keepdims=True)
        return (dout - dout.mean(axis=(1, 2), keepdims=True) - self.xn * proj) * self.inv_std


class GlobalAveragePooling:
    """Mean over the spatial axes: (N, H, W, C) -> (N, C)."""

    cache = ("x_shape",)

    def __init__(self):
        self.x_shape: tuple | None = None

    def forward(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        self.x_shape = x.shape
        n, h, w, c = x.shape
        return x.reshape(n, h * w, c).mean(axis=1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        n, h, w, c = self.x_shape
        scaled = dout * dout.dtype.type(1.0 / (h * w))
        return np.broadcast_to(scaled[:, None, None, :], self.x_shape).copy()


class SmoothedSoftmaxWithLoss:
    """Mean cross-entropy of softmax(x) against (1 - smoothing) * one_hot(t) + smoothing / K.

    With two classes this is the binary cross-entropy of the logit x1 - x0 against targets
    0.05 / 0.95 for smoothing 0.1; smoothing 0 is the plain, unweighted SoftmaxWithLoss.
    """

    cache = ("y", "target")

    def __init__(self, smoothing: float = 0.1):
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self.smoothing = smoothing
        self.class_weights = None  # read by train.evaluate, as of SoftmaxWithLoss
        self.y: np.ndarray | None = None
        self.target: np.ndarray | None = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        n, k = x.shape
        labels = t.argmax(axis=1) if t.ndim == 2 else t.astype(np.int64)
        target = np.full((n, k), self.smoothing / k, dtype=x.dtype)
        target[np.arange(n), labels] += 1.0 - self.smoothing
        shifted = x - x.max(axis=1, keepdims=True)
        log_y = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.y, self.target = np.exp(log_y), target
        return float(-(target * log_y).sum() / n)

    def backward(self, dout: float = 1.0) -> np.ndarray:
        return (self.y - self.target) * (dout / len(self.y))
