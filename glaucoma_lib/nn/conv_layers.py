"""The spatial layers of the NumPy CNN: convolution and max pooling over channels-last maps.

Both keep what backward needs only when forward is told it trains (train_flg=True); see
glaucoma_lib.nn.layers for the conventions every layer follows.
"""

from __future__ import annotations

import numpy as np

from glaucoma_lib.nn.conv_ops import (
    SHIFT_BYTES,
    ShiftGrid,
    col2im,
    column_sums,
    conv_output_size,
    convolve,
    im2col,
    map_chunks,
    map_sample_chunks,
)


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

    def forward(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        fn, c, kh, kw = self.W.shape
        if train_flg:
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

    def forward(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        """Inference (train_flg=False, no backward follows): the maximum only, no winner masks."""
        out = np.empty(self._windows(x)[0].shape, x.dtype)
        if not train_flg:
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
