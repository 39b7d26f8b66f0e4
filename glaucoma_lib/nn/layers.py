"""Layers of the NumPy CNN, one small class each with forward/backward.

Style follows deep-learning-from-scratch (common/layers.py): every layer exposes parameter
gradients as attributes (dW, db, dgamma, dbeta). One signature for all: forward(x, train_flg)
keeps what backward needs only when train_flg is True (inference keeps nothing: no ReLU masks,
no pooling winners); train_flg also switches Dropout and BatchNorm to their training
behaviour, unless they are `frozen` (DeepConvNet.frozen: caches for backward, test-time
function). Each layer names its caches in its class attribute `cache`, so the network can free
them (clear_caches) once backward has spent them. Convolution and pooling: conv_layers.

Layout: image tensors inside the network are channels-last (N, H, W, C). With channels last,
im2col is a plain reshape of a (N, OH, OW, KH, KW, C) buffer and the convolution output of
the GEMM is already (N, OH, OW, FN): no transposes of large arrays. Parameters keep the
original layouts (conv W is (FN, C, KH, KW), affine W is (in, out)), so weight files stay
compatible with the original code. The network converts its (N, C, H, W) input once
(ChannelsLast) and flattens in channels-first order (Flatten) to match the original W7.

dtype follows the input and parameters: float32 for training, float64 for gradient checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glaucoma_lib.nn.conv_ops import (
    column_means,
    column_sums,
    map_sample_chunks,
    one_blas_thread,
)


def clear_caches(layer: Any) -> None:
    """Drop what the layer's forward kept for backward (the names in its `cache`): a batch's
    activations are the largest arrays of training, and held after use they add up."""
    for name in layer.cache:
        setattr(layer, name, None)


class Relu:
    """max(x, 0), in cache-sized chunks of samples over the BLAS threads (map_chunks): on
    whole maps these memory-bound passes ran on one core, slower than the chunks."""

    cache = ("mask",)

    def __init__(self):
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        """Inference (train_flg=False): no mask, a third less memory traffic."""
        out = np.empty_like(x)
        if not train_flg:
            map_sample_chunks(lambda s: np.maximum(x[s], 0, out=out[s]), x)
            return out
        self.mask = np.empty(x.shape, dtype=bool)

        def part(s: slice) -> None:
            np.greater(x[s], 0, out=self.mask[s])
            np.maximum(x[s], 0, out=out[s])

        map_sample_chunks(part, x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = np.empty_like(dout)
        map_sample_chunks(lambda s: np.multiply(dout[s], self.mask[s], out=dx[s]), dout)
        return dx


class Affine:
    """x @ W + b; accepts (N, D) or anything that flattens to it.

    Its GEMMs are a few MFLOP, so they run on one BLAS thread: waking a second thread costs
    more than it saves, and while another process holds a core that thread waits a whole
    time slice (50x1024 @ 1024x50 took ~35 ms on two threads under load, 0.1 ms on one).
    """

    cache = ("x", "x_shape")

    def __init__(self, W: np.ndarray, b: np.ndarray):
        self.W, self.b = W, b
        self.x: np.ndarray | None = None
        self.x_shape: tuple | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        x2 = x.reshape(x.shape[0], -1)
        if train_flg:
            self.x_shape, self.x = x.shape, x2
        with one_blas_thread():
            return x2 @ self.W + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        with one_blas_thread():
            self.dW = self.x.T @ dout
            dx = dout @ self.W.T
        self.db = dout.sum(axis=0)
        return dx.reshape(self.x_shape)


class Dropout:
    """Dropout as in the original: drop with probability `ratio` while training, scale by
    (1 - ratio) at test time. The random generator is passed in so runs are reproducible.
    Frozen, a training forward scales as at test time (no mask, no random draw)."""

    cache = ("mask",)

    def __init__(self, ratio: float, rng: np.random.Generator):
        self.ratio, self.rng = ratio, rng
        self.mask: np.ndarray | None = None
        self.frozen = False
        self.dropping = False  # whether the latest forward applied a mask

    def forward(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        self.dropping = train_flg and not self.frozen
        if self.dropping:
            self.mask = self.rng.random(x.shape, dtype=np.float32) >= self.ratio
            return x * self.mask
        return x * x.dtype.type(1.0 - self.ratio)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.dropping:
            return dout * self.mask
        return dout * dout.dtype.type(1.0 - self.ratio)


class BatchNormalization:
    """Batch normalisation over every axis but the last (channels): works for (N, D) affine
    outputs and (N, H, W, C) conv maps alike. Running statistics are used at test time, and in
    a training forward while frozen (then left as they are).

    Running statistics follow running = momentum * running + (1 - momentum) * batch statistic
    (momentum 0.9, as deep-learning-from-scratch), the variance being the biased batch variance
    (divided by the row count, not by one less)."""

    cache = ("x_shape", "xn", "inv_std")

    def __init__(
        self,
        gamma: np.ndarray,
        beta: np.ndarray,
        running_mean: np.ndarray,
        running_var: np.ndarray,
        momentum: float = 0.9,
        eps: float = 1e-5,
    ):
        self.gamma, self.beta = gamma, beta
        self.running_mean, self.running_var = running_mean, running_var
        self.momentum, self.eps = momentum, eps
        self.frozen = False
        self.batch_stats = False  # whether the latest forward normalised by batch statistics
        self.x_shape: tuple | None = None
        self.xn: np.ndarray | None = None
        self.inv_std: np.ndarray | None = None
        self.dgamma: np.ndarray | None = None
        self.dbeta: np.ndarray | None = None

    def forward(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        self.batch_stats = train_flg and not self.frozen
        x2 = x.reshape(-1, x.shape[-1])
        if self.batch_stats:
            mu = column_means(x2)
            xc = x2 - mu
            var = column_means(xc * xc)
            inv_std = 1.0 / np.sqrt(var + self.eps)
            xn = np.multiply(xc, inv_std, out=xc)
            # in place: the network's buffer arrays are the ones that get saved
            self.running_mean *= self.momentum
            self.running_mean += (1 - self.momentum) * mu
            self.running_var *= self.momentum
            self.running_var += (1 - self.momentum) * var
        else:
            inv_std = 1.0 / np.sqrt(self.running_var + self.eps)
            xn = (x2 - self.running_mean) * inv_std
        if train_flg:
            self.x_shape, self.xn, self.inv_std = x.shape, xn, inv_std
        out = xn * self.gamma
        out += self.beta
        return out.reshape(x.shape)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """In place on two batch-sized buffers: a fresh array per step costs as much as the
        arithmetic on these cheap passes."""
        d2 = dout.reshape(-1, dout.shape[-1])
        self.dbeta = column_sums(d2)
        scratch = np.multiply(d2, self.xn)
        self.dgamma = column_sums(scratch)
        dxn = d2 * self.gamma
        if self.batch_stats:
            projection = column_means(np.multiply(dxn, self.xn, out=scratch))
            dxn -= column_means(dxn)
            dxn -= np.multiply(self.xn, projection, out=scratch)
        dxn *= self.inv_std
        return dxn.reshape(self.x_shape)


class SoftmaxWithLoss:
    """Softmax + cross-entropy, optionally class-weighted.

    With class weights w, the loss is sum_i w[t_i] * CE_i / sum_i w[t_i] (a weighted mean,
    as in PyTorch), so uniform weights give the plain mean of the original.
    """

    cache = ("y", "labels", "sample_weights")

    def __init__(self, class_weights: np.ndarray | None = None):
        self.class_weights = None if class_weights is None else np.asarray(class_weights)
        self.y: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.sample_weights: np.ndarray | None = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        self.labels = t.argmax(axis=1) if t.ndim == 2 else t.astype(np.int64)
        shifted = x - x.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        self.y = exp / exp.sum(axis=1, keepdims=True)
        log_y = shifted - np.log(exp.sum(axis=1, keepdims=True))
        ce = -log_y[np.arange(len(self.labels)), self.labels]
        if self.class_weights is None:
            w = np.ones(len(self.labels), dtype=x.dtype)
        else:
            w = self.class_weights.astype(x.dtype)[self.labels]
        self.sample_weights = w / w.sum()
        return float((ce * self.sample_weights).sum())

    def backward(self, dout: float = 1.0) -> np.ndarray:
        dx = self.y.copy()
        dx[np.arange(len(self.labels)), self.labels] -= 1
        return dx * (self.sample_weights[:, None] * dout)


class ChannelsLast:
    """(N, C, H, W) -> (N, H, W, C) at the network input; backward returns NCHW gradients."""

    cache = ()

    def forward(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        return x.transpose(0, 2, 3, 1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.transpose(0, 3, 1, 2)


class Flatten:
    """(N, H, W, C) -> (N, C*H*W) in channels-first order, matching the original W7 rows."""

    cache = ("x_shape",)

    def __init__(self):
        self.x_shape: tuple | None = None

    def forward(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        if train_flg:
            self.x_shape = x.shape
        return x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        n, h, w, c = self.x_shape
        return dout.reshape(n, c, h, w).transpose(0, 2, 3, 1)
