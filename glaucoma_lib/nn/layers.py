"""Layers of the NumPy CNN, one small class each with forward/backward.

Style follows deep-learning-from-scratch (common/layers.py): every layer keeps what its
backward pass needs and exposes parameter gradients as attributes (dW, db, dgamma, dbeta).
Each layer names those forward caches in its class attribute `cache`, so the network can free
them (clear_caches) once they are spent or never needed: after backward, and in test mode.

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
    SHIFT_BYTES,
    ShiftGrid,
    col2im,
    column_means,
    column_sums,
    conv_output_size,
    convolve,
    im2col,
    map_chunks,
    map_sample_chunks,
    one_blas_thread,
)


def clear_caches(layer: Any) -> None:
    """Drop what the layer's forward kept for backward (the names in its `cache`): a batch's
    activations are the largest arrays of training, and held after use they add up."""
    for name in layer.cache:
        setattr(layer, name, None)


class Convolution:
    """2-D convolution (cross-correlation) over channels-last maps, in sample chunks.

    Two ways, chosen per layer (`method`, "auto" by default), measured on the default net:
    - "shift": stride 1 and at least 16 input channels (conv2..conv6): KH GEMMs of
      row-shifted views of the padded grid (ShiftGrid), forward and both gradients. Faster
      than im2col there, since im2col spends as long copying as the skinny GEMM computes.
    - "im2col": strided or very narrow inputs (conv1, 3 channels: K = C = 3 GEMMs are
      inefficient): im2col + one GEMM per cache-sized chunk.
    Neither keeps a batch-sized matrix for backward: chunks are rebuilt from the input.
    """

    SHIFT_MIN_CHANNELS = 16
    cache = ("x",)

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad
        self.input_grad = True  # the first layer of a network can skip dx during training
        self.method = "auto"
        self.x: np.ndarray | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def uses_shift(self, channels: int) -> bool:
        if self.method == "auto":
            return self.stride == 1 and channels >= self.SHIFT_MIN_CHANNELS
        return self.method == "shift"

    def forward(self, x: np.ndarray) -> np.ndarray:
        fn, c, kh, kw = self.W.shape
        self.x = x
        if not self.uses_shift(c):
            W_col = self.W.transpose(2, 3, 1, 0).reshape(-1, fn)  # (KH*KW*C, FN)
            return convolve(x, W_col, kh, kw, self.stride, self.pad, bias=self.b)
        grid = ShiftGrid(x.shape, kh, kw, self.pad)
        Wk = np.ascontiguousarray(self.W.transpose(2, 3, 1, 0))  # (KH, KW, C, FN)
        out = np.empty((len(x), grid.oh, grid.ow, fn), x.dtype)

        def part(s: slice) -> None:
            np.add(grid.forward(x[s], Wk), self.b, out=out[s])

        map_chunks(part, len(x), grid.chunk_bytes(c, fn, x.itemsize), SHIFT_BYTES)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        _, c, _, _ = self.W.shape
        if self.uses_shift(c):
            return self._backward_shift(dout)
        return self._backward_im2col(dout)

    def _backward_shift(self, dout: np.ndarray) -> np.ndarray | None:
        fn, c, kh, kw = self.W.shape
        grid = ShiftGrid(self.x.shape, kh, kw, self.pad)
        Wk = np.ascontiguousarray(self.W.transpose(2, 3, 1, 0))
        dx = np.empty(self.x.shape, dout.dtype) if self.input_grad else None

        def part(s: slice) -> tuple[np.ndarray, np.ndarray]:
            dWk, dx_part = grid.backward(self.x[s], dout[s], Wk, self.input_grad)
            if dx is not None:
                dx[s] = dx_part
            return dWk, column_sums(dout[s].reshape(-1, fn))

        parts = map_chunks(part, len(dout), grid.chunk_bytes(c, fn, dout.itemsize), SHIFT_BYTES)
        self.dW = np.sum([p[0] for p in parts], axis=0).transpose(3, 2, 0, 1)
        self.db = np.sum([p[1] for p in parts], axis=0)
        return dx

    def _backward_im2col(self, dout: np.ndarray) -> np.ndarray | None:
        fn, c, kh, kw = self.W.shape
        n, oh, ow, _ = dout.shape

        def part(s: slice) -> tuple[np.ndarray, np.ndarray]:
            d = dout[s].reshape(-1, fn)
            col = im2col(self.x[s], kh, kw, self.stride, self.pad)
            return np.dot(col.T, d), column_sums(d)  # np.dot: see ShiftGrid.backward

        parts = map_chunks(part, n, oh * ow * kh * kw * c * dout.itemsize)
        self.dW = np.sum([p[0] for p in parts], axis=0).reshape(kh, kw, c, fn).transpose(3, 2, 0, 1)
        self.db = np.sum([p[1] for p in parts], axis=0)
        if not self.input_grad:
            return None
        if self.stride == 1 and kh == kw and self.pad < kh:
            # dx as a forward convolution of dout with the flipped kernel; padding the output
            # map by K-1-pad restores the input size. Cheaper than col2im's nine passes.
            W_flip = self.W[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(-1, c)
            return convolve(dout, W_flip, kh, kw, 1, kh - 1 - self.pad)
        W_col = self.W.transpose(2, 3, 1, 0).reshape(-1, fn)
        return col2im(dout.reshape(-1, fn) @ W_col.T, self.x.shape, kh, kw, self.stride, self.pad)


class MaxPooling:
    """Max pooling over (N, H, W, C); ties go to the first maximum, like argmax.

    Rows/columns that do not fill a whole window are dropped (floor), as in the original:
    a 17x17 map pools to 8x8. When windows do not overlap (stride >= pool size, as 2x2/2),
    forward marks each window's first maximum in boolean masks (one per window offset) and
    keeps those instead of the input: a quarter of the bytes of a float32 map, and the input
    can be freed as soon as the next layer is done with it. That case runs in cache-sized
    chunks of samples, over the BLAS threads (map_chunks), as ReLU does.
    """

    cache = ("x", "out", "winners", "x_shape")

    def __init__(self, pool_h: int = 2, pool_w: int = 2, stride: int = 2):
        self.pool_h, self.pool_w, self.stride = pool_h, pool_w, stride
        self.x: np.ndarray | None = None
        self.out: np.ndarray | None = None
        self.winners: list[np.ndarray] | None = None  # non-overlapping: first maxima, per offset
        self.x_shape: tuple | None = None

    @property
    def overlapping(self) -> bool:
        return self.stride < max(self.pool_h, self.pool_w)

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

    def _first_hits(self, x: np.ndarray, out: np.ndarray, hits: list[np.ndarray]) -> None:
        """Fill hits, per window offset a contiguous (N, OH, OW, C) mask: x == out at the
        first maximum. Separate contiguous masks, not one strided map: numpy writes strided
        bools slowly."""
        free = np.ones(out.shape, dtype=bool)  # windows whose maximum is not yet marked
        for view, hit in zip(self._windows(x), hits, strict=True):
            np.equal(view, out, out=hit)
            hit &= free
            free &= ~hit

    def _max_into(self, x: np.ndarray, out: np.ndarray) -> None:
        windows = self._windows(x)
        np.copyto(out, windows[0])
        for view in windows[1:]:
            np.maximum(out, view, out=out)

    def _masks(self, shape: tuple) -> list[np.ndarray]:
        return [np.empty(shape, dtype=bool) for _ in range(self.pool_h * self.pool_w)]

    def forward(self, x: np.ndarray, keep_cache: bool = True) -> np.ndarray:
        """keep_cache=False (no backward follows): the maximum only, no winner masks."""
        out = np.empty(self._windows(x)[0].shape, x.dtype)
        if not keep_cache:
            map_sample_chunks(lambda s: self._max_into(x[s], out[s]), x)
            return out
        if self.overlapping:
            self._max_into(x, out)
            self.x, self.out = x, out  # the argmax is recovered in backward, only when needed
            return out
        self.x_shape, self.winners = x.shape, self._masks(out.shape)

        def part(s: slice) -> None:
            self._max_into(x[s], out[s])
            self._first_hits(x[s], out[s], [hit[s] for hit in self.winners])

        map_sample_chunks(part, x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if not self.overlapping:
            dx = np.zeros(self.x_shape, dtype=dout.dtype)

            def part(s: slice) -> None:
                for hit, dview in zip(self.winners, self._windows(dx[s]), strict=True):
                    np.multiply(dout[s], hit[s], out=dview)

            map_sample_chunks(part, dx)
            return dx
        dx = np.zeros(self.x.shape, dtype=dout.dtype)
        hits = self._masks(self.out.shape)
        self._first_hits(self.x, self.out, hits)
        for hit, dview in zip(hits, self._windows(dx), strict=True):
            dview += dout * hit
        return dx


class Relu:
    """max(x, 0), in cache-sized chunks of samples over the BLAS threads (map_chunks): on
    whole maps these memory-bound passes ran on one core, slower than the chunks."""

    cache = ("mask",)

    def __init__(self):
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, keep_cache: bool = True) -> np.ndarray:
        """keep_cache=False (no backward follows): no mask, a third less memory traffic."""
        out = np.empty_like(x)
        if not keep_cache:
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

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        with one_blas_thread():
            return self.x @ self.W + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        with one_blas_thread():
            self.dW = self.x.T @ dout
            dx = dout @ self.W.T
        self.db = dout.sum(axis=0)
        return dx.reshape(self.x_shape)


class Dropout:
    """Dropout as in the original: drop with probability `ratio` while training, scale by
    (1 - ratio) at test time. The random generator is passed in so runs are reproducible."""

    cache = ("mask",)

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
            mu = column_means(x2)
            xc = x2 - mu
            var = column_means(xc * xc)
            self.inv_std = 1.0 / np.sqrt(var + self.eps)
            self.xn = np.multiply(xc, self.inv_std, out=xc)
            # in place: the network's buffer arrays are the ones that get saved
            self.running_mean *= self.momentum
            self.running_mean += (1 - self.momentum) * mu
            self.running_var *= self.momentum
            self.running_var += (1 - self.momentum) * var
        else:
            self.inv_std = 1.0 / np.sqrt(self.running_var + self.eps)
            self.xn = (x2 - self.running_mean) * self.inv_std
        out = self.xn * self.gamma
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
        if self.train_flg:
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

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.transpose(0, 2, 3, 1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.transpose(0, 3, 1, 2)


class Flatten:
    """(N, H, W, C) -> (N, C*H*W) in channels-first order, matching the original W7 rows."""

    cache = ("x_shape",)

    def __init__(self):
        self.x_shape: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x_shape = x.shape
        return x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        n, h, w, c = self.x_shape
        return dout.reshape(n, c, h, w).transpose(0, 2, 3, 1)
