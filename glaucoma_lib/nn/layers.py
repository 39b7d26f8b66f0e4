"""Layers of the NumPy CNN, one small class each with forward/backward.

Style follows deep-learning-from-scratch (common/layers.py): every layer keeps what its
backward pass needs and exposes parameter gradients as attributes (dW, db, dgamma, dbeta).

Layout: image tensors inside the network are channels-last (N, H, W, C). With channels last,
im2col is a plain reshape of a (N, OH, OW, KH, KW, C) buffer and the convolution output of
the GEMM is already (N, OH, OW, FN): no transposes of large arrays. Parameters keep the
original layouts (conv W is (FN, C, KH, KW), affine W is (in, out)), so weight files stay
compatible with the original code. The network converts its (N, C, H, W) input once
(ChannelsLast) and flattens in channels-first order (Flatten) to match the original W7.

dtype follows the input and parameters: float32 for training, float64 for gradient checks.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import as_strided
from threadpoolctl import ThreadpoolController


def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """(N, H, W, C) -> contiguous (N*OH*OW, KH*KW*C) patch matrix, one copy per kernel row.

    Channels last makes the KW*C values of one kernel row contiguous in the input, so each
    copy moves runs of KW*C floats (48 for 16 channels) rather than C: about twice as fast.
    """
    n, h, w, c = x.shape
    oh, ow = conv_output_size(h, kh, stride, pad), conv_output_size(w, kw, stride, pad)
    if pad:
        xp = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=x.dtype)
        xp[:, pad : pad + h, pad : pad + w, :] = x
    else:
        xp = np.ascontiguousarray(x)
    sn, sh, sw, sc = xp.strides
    col = np.empty((n, oh, ow, kh, kw * c), dtype=x.dtype)
    for i in range(kh):
        # view[n, y, x, j*C + c] = xp[n, y*stride + i, x*stride + j, c]
        col[:, :, :, i] = as_strided(
            xp[:, i:], (n, oh, ow, kw * c), (sn, stride * sh, stride * sw, sc), writeable=False
        )
    return col.reshape(n * oh * ow, kh * kw * c)


def col2im(
    col: np.ndarray, x_shape: tuple, kh: int, kw: int, stride: int = 1, pad: int = 0
) -> np.ndarray:
    """Adjoint of im2col: sums patch gradients into (N, H, W, C), one pass per kernel offset."""
    n, h, w, c = x_shape
    oh, ow = conv_output_size(h, kh, stride, pad), conv_output_size(w, kw, stride, pad)
    col = col.reshape(n, oh, ow, kh, kw, c)
    dxp = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=col.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, i : i + stride * oh : stride, j : j + stride * ow : stride] += col[:, :, :, i, j]
    return dxp[:, pad : pad + h, pad : pad + w, :] if pad else dxp


CHUNK_BYTES = 3 * 2**20  # patch-matrix bytes per GEMM: stays in cache beside its inputs
_BLAS = ThreadpoolController()


def sample_chunks(n: int, bytes_per_sample: int) -> list[slice]:
    step = max(1, CHUNK_BYTES // bytes_per_sample)
    return [slice(start, start + step) for start in range(0, n, step)]


@functools.lru_cache
def _executor(workers: int, pid: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers)  # one per process: a forked child gets its own threads


def map_chunks(fn, n: int, bytes_per_sample: int) -> list:
    """fn(slice) for cache-sized chunks of the batch, spread over as many threads as BLAS may use.

    The patch matrix of a whole batch (118 MB for 50 maps of 16x64x64) does not fit in any
    cache, so one big GEMM waits on memory; chunks stay in cache and run about twice as fast.
    Each thread runs single-threaded BLAS on whole chunks: multithreaded BLAS on many small
    GEMMs synchronises per call and stalls badly when other processes share the cores.
    The loop is over groups of samples, never over pixels.
    """
    chunks = sample_chunks(n, bytes_per_sample)
    blas_threads = [d["num_threads"] for d in _BLAS.select(user_api="blas").info()]
    workers = min(len(chunks), max(blas_threads, default=1))
    if workers <= 1:
        return [fn(s) for s in chunks]
    with _BLAS.limit(limits=1, user_api="blas"):
        return list(_executor(workers, os.getpid()).map(fn, chunks))


def convolve(
    x: np.ndarray, W_col: np.ndarray, kh: int, kw: int, stride: int, pad: int
) -> np.ndarray:
    """(N, H, W, C) conv (KH*KW*C, FN) -> (N, OH, OW, FN): im2col + GEMM per chunk of samples."""
    n, h, w, c = x.shape
    oh, ow = conv_output_size(h, kh, stride, pad), conv_output_size(w, kw, stride, pad)
    fn = W_col.shape[1]
    out = np.empty((n, oh, ow, fn), dtype=x.dtype)

    def gemm(s: slice) -> None:
        np.matmul(im2col(x[s], kh, kw, stride, pad), W_col, out=out[s].reshape(-1, fn))

    map_chunks(gemm, n, oh * ow * len(W_col) * x.itemsize)
    return out


class Convolution:
    """2-D convolution (cross-correlation) as im2col + GEMM, in cache-sized sample chunks.

    The patch matrix is not kept for backward: rebuilding it chunk by chunk from the input is
    cheaper than writing and re-reading a batch-sized matrix through main memory.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad
        self.input_grad = True  # the first layer of a network can skip dx during training
        self.x: np.ndarray | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        fn, _, kh, kw = self.W.shape
        self.x = x
        W_col = self.W.transpose(2, 3, 1, 0).reshape(-1, fn)  # (KH*KW*C, FN)
        out = convolve(x, W_col, kh, kw, self.stride, self.pad)
        out += self.b
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        fn, c, kh, kw = self.W.shape
        n, oh, ow, _ = dout.shape
        dout_rows = dout.reshape(-1, fn)
        self.db = np.ones(len(dout_rows), dout.dtype) @ dout_rows  # GEMV: ~10x faster than sum

        def dW_part(s: slice) -> np.ndarray:
            return im2col(self.x[s], kh, kw, self.stride, self.pad).T @ dout[s].reshape(-1, fn)

        parts = map_chunks(dW_part, n, oh * ow * kh * kw * c * dout.itemsize)
        self.dW = np.sum(parts, axis=0).reshape(kh, kw, c, fn).transpose(3, 2, 0, 1)
        if not self.input_grad:
            return None
        if self.stride == 1 and kh == kw and self.pad < kh:
            # dx as a forward convolution of dout with the flipped kernel; padding the output
            # map by K-1-pad restores the input size. Cheaper than col2im's nine passes.
            W_flip = self.W[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(-1, c)
            return convolve(dout, W_flip, kh, kw, 1, kh - 1 - self.pad)
        W_col = self.W.transpose(2, 3, 1, 0).reshape(-1, fn)
        return col2im(dout_rows @ W_col.T, self.x.shape, kh, kw, self.stride, self.pad)


class MaxPooling:
    """Max pooling over (N, H, W, C); ties go to the first maximum, like argmax.

    Rows/columns that do not fill a whole window are dropped (floor), as in the original:
    a 17x17 map pools to 8x8.
    """

    def __init__(self, pool_h: int = 2, pool_w: int = 2, stride: int = 2):
        self.pool_h, self.pool_w, self.stride = pool_h, pool_w, stride
        self.x: np.ndarray | None = None
        self.out: np.ndarray | None = None

    def _windows(self, x: np.ndarray) -> list[np.ndarray]:
        """One strided view (N, OH, OW, C) per window offset; no copies."""
        _, h, w, _ = x.shape
        oh = conv_output_size(h, self.pool_h, self.stride, 0)
        ow = conv_output_size(w, self.pool_w, self.stride, 0)
        s = self.stride
        return [
            x[:, i : i + s * oh : s, j : j + s * ow : s]
            for i in range(self.pool_h)
            for j in range(self.pool_w)
        ]

    def forward(self, x: np.ndarray) -> np.ndarray:
        windows = self._windows(x)
        out = windows[0].copy()
        for view in windows[1:]:
            np.maximum(out, view, out=out)
        self.x, self.out = x, out  # the argmax is recovered in backward, only when needed
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = np.zeros(self.x.shape, dtype=dout.dtype)
        free = np.ones(self.out.shape, dtype=bool)  # windows whose maximum is not yet routed
        overlapping = self.stride < max(self.pool_h, self.pool_w)
        for view, dview in zip(self._windows(self.x), self._windows(dx), strict=True):
            hit = view == self.out
            hit &= free
            free &= ~hit
            if overlapping:
                dview += dout * hit
            else:
                np.multiply(dout, hit, out=dview)
        return dx


class Relu:
    def __init__(self):
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.mask


class Affine:
    """x @ W + b; accepts (N, D) or anything that flattens to it."""

    def __init__(self, W: np.ndarray, b: np.ndarray):
        self.W, self.b = W, b
        self.x: np.ndarray | None = None
        self.x_shape: tuple | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return (dout @ self.W.T).reshape(self.x_shape)


class Dropout:
    """Dropout as in the original: drop with probability `ratio` while training, scale by
    (1 - ratio) at test time. The random generator is passed in so runs are reproducible."""

    def __init__(self, ratio: float, rng: np.random.Generator):
        self.ratio, self.rng = ratio, rng
        self.mask: np.ndarray | None = None
        self.train_flg = False

    def forward(self, x: np.ndarray, train_flg: bool = True) -> np.ndarray:
        self.train_flg = train_flg
        if train_flg:
            self.mask = self.rng.random(x.shape, dtype=np.float32) >= self.ratio
            return x * self.mask
        return x * x.dtype.type(1.0 - self.ratio)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.train_flg:
            return dout * self.mask
        return dout * dout.dtype.type(1.0 - self.ratio)


class BatchNormalization:
    """Batch normalisation over every axis but the last (channels): works for (N, D) affine
    outputs and (N, H, W, C) conv maps alike. Running statistics are used at test time."""

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
        self.train_flg = False
        self.x_shape: tuple | None = None
        self.xn: np.ndarray | None = None
        self.inv_std: np.ndarray | None = None
        self.dgamma: np.ndarray | None = None
        self.dbeta: np.ndarray | None = None

    def forward(self, x: np.ndarray, train_flg: bool = True) -> np.ndarray:
        self.train_flg, self.x_shape = train_flg, x.shape
        x2 = x.reshape(-1, x.shape[-1])
        if train_flg:
            mu = x2.mean(axis=0)
            xc = x2 - mu
            var = (xc * xc).mean(axis=0)
            self.inv_std = 1.0 / np.sqrt(var + self.eps)
            self.xn = xc * self.inv_std
            # in place: the network's buffer arrays are the ones that get saved
            self.running_mean *= self.momentum
            self.running_mean += (1 - self.momentum) * mu
            self.running_var *= self.momentum
            self.running_var += (1 - self.momentum) * var
        else:
            self.inv_std = 1.0 / np.sqrt(self.running_var + self.eps)
            self.xn = (x2 - self.running_mean) * self.inv_std
        return (self.gamma * self.xn + self.beta).reshape(x.shape)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        d2 = dout.reshape(-1, dout.shape[-1])
        self.dbeta = d2.sum(axis=0)
        self.dgamma = (d2 * self.xn).sum(axis=0)
        dxn = d2 * self.gamma
        if self.train_flg:
            dxn = dxn - dxn.mean(axis=0) - self.xn * (dxn * self.xn).mean(axis=0)
        return (dxn * self.inv_std).reshape(self.x_shape)


class SoftmaxWithLoss:
    """Softmax + cross-entropy, optionally class-weighted.

    With class weights w, the loss is sum_i w[t_i] * CE_i / sum_i w[t_i] (a weighted mean,
    as in PyTorch), so uniform weights give the plain mean of the original.
    """

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

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.transpose(0, 2, 3, 1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.transpose(0, 3, 1, 2)


class Flatten:
    """(N, H, W, C) -> (N, C*H*W) in channels-first order, matching the original W7 rows."""

    def __init__(self):
        self.x_shape: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x_shape = x.shape
        return x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        n, h, w, c = self.x_shape
        return dout.reshape(n, c, h, w).transpose(0, 2, 3, 1)
