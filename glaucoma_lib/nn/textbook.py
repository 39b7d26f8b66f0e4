"""The network's layers written plainly: the readable reference for the fast layers in
nn/layers.py.

In the style of Deep Learning from Scratch (common/layers.py): images are (N, C, H, W), a
convolution is im2col + one matrix product, every layer keeps what its backward pass needs, and
parameter gradients are the attributes dW and db. Nothing here is tuned: no chunks, no threads,
no channels-last layout, no freed caches. The fast layers compute the same numbers (the tests
and notebook 03 check it) and are what the network trains with.

Every layer has forward(x, train_flg=False) and backward(dout); only Dropout looks at train_flg.
"""

from __future__ import annotations

import numpy as np


def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """(N, C, H, W) -> (N*OH*OW, C*KH*KW): one row per output position, holding the patch of
    the input under the filter there, so the convolution becomes a single matrix product."""
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    col = np.zeros((n, c, kh, kw, oh, ow), x.dtype)
    for i in range(kh):  # the kernel offset (i, j) sees every output position at once
        for j in range(kw):
            col[:, :, i, j] = img[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def col2im(col: np.ndarray, x_shape: tuple, kh: int, kw: int, stride: int = 1,
           pad: int = 0) -> np.ndarray:
    """The reverse of im2col for gradients: every patch row adds its values back onto the input
    pixels it was copied from (a pixel under several patches gets the sum)."""
    n, c, h, w = x_shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    col = col.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1), col.dtype)
    for i in range(kh):
        for j in range(kw):
            img[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += col[:, :, i, j]
    return img[:, :, pad : pad + h, pad : pad + w]


class Convolution:
    """Filters W (FN, C, KH, KW) slid over the image: out = im2col(x) @ W as a matrix, + b."""

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad
        self.x = self.col = self.col_W = None
        self.dW = self.db = None

    def forward(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        fn, _, kh, kw = self.W.shape
        n, _, h, w = x.shape
        oh = (h + 2 * self.pad - kh) // self.stride + 1
        ow = (w + 2 * self.pad - kw) // self.stride + 1
        self.x = x
        self.col = im2col(x, kh, kw, self.stride, self.pad)  # (N*OH*OW, C*KH*KW)
        self.col_W = self.W.reshape(fn, -1).T  # (C*KH*KW, FN): one column per filter
        out = self.col @ self.col_W + self.b  # (N*OH*OW, FN)
        return out.reshape(n, oh, ow, fn).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        fn, c, kh, kw = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)  # back to one row per position
        self.db = dout.sum(axis=0)
        self.dW = (self.col.T @ dout).T.reshape(fn, c, kh, kw)
        dcol = dout @ self.col_W.T
        return col2im(dcol, self.x.shape, kh, kw, self.stride, self.pad)


class Pooling:
    """Max pooling: the largest value of each window; the gradient goes to that value only
    (the first one, when several are equal)."""

    def __init__(self, pool_h: int = 2, pool_w: int = 2, stride: int = 2):
        self.pool_h, self.pool_w, self.stride = pool_h, pool_w, stride
        self.x = self.arg_max = None

    def forward(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        n, c, h, w = x.shape
        oh = (h - self.pool_h) // self.stride + 1
        ow = (w - self.pool_w) // self.stride + 1
        col = im2col(x, self.pool_h, self.pool_w, self.stride)
        col = col.reshape(-1, self.pool_h * self.pool_w)  # one row per window and channel
        self.x, self.arg_max = x, col.argmax(axis=1)
        return col.max(axis=1).reshape(n, oh, ow, c).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = dout.transpose(0, 2, 3, 1).ravel()
        dmax = np.zeros((dout.size, self.pool_h * self.pool_w), dout.dtype)
        dmax[np.arange(dout.size), self.arg_max] = dout
        dcol = dmax.reshape(-1, self.x.shape[1] * self.pool_h * self.pool_w)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride)


class Relu:
    """max(x, 0); the gradient passes where the input was positive."""

    def __init__(self):
        self.mask = None

    def forward(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = dout.copy()
        dx[self.mask] = 0
        return dx


class Affine:
    """Fully connected: x (flattened to (N, D)) @ W (D, M) + b."""

    def __init__(self, W: np.ndarray, b: np.ndarray):
        self.W, self.b = W, b
        self.x = self.x_shape = None
        self.dW = self.db = None

    def forward(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        self.x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return (dout @ self.W.T).reshape(self.x_shape)


class Dropout:
    """While training, zero each input with probability `ratio`; at test time scale every input
    by (1 - ratio) instead, so a unit's expected output is the same in both. The random
    generator is passed in, so a run is reproducible."""

    def __init__(self, ratio: float, rng: np.random.Generator):
        self.ratio, self.rng = ratio, rng
        self.mask, self.train_flg = None, False

    def forward(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        self.train_flg = train_flg
        if train_flg:
            self.mask = self.rng.random(x.shape, dtype=np.float32) >= self.ratio
            return x * self.mask
        return x * (1.0 - self.ratio)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.mask if self.train_flg else dout * (1.0 - self.ratio)


class SoftmaxWithLoss:
    """Softmax turns scores into probabilities y; the loss is the mean cross-entropy -log y of
    the true class. Its gradient is simply (y - one_hot(t)) / N."""

    def __init__(self):
        self.y = self.t = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        exp = np.exp(x - x.max(axis=1, keepdims=True))  # shifted: exp cannot overflow
        self.y, self.t = exp / exp.sum(axis=1, keepdims=True), t
        return float(-np.log(self.y[np.arange(len(t)), t]).mean())

    def backward(self, dout: float = 1.0) -> np.ndarray:
        dx = self.y.copy()
        dx[np.arange(len(self.t)), self.t] -= 1
        return dx * (dout / len(self.t))
