"""The convolution kernels behind the layers: im2col/col2im, the shifted-GEMM grid, and running
GEMMs in cache-sized chunks of the batch over a thread pool. Vectorised: the only loops are over
kernel offsets and groups of samples, never over pixels.
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


def sample_chunks(n: int, bytes_per_sample: int, chunk_bytes: int = CHUNK_BYTES) -> list[slice]:
    step = max(1, chunk_bytes // max(1, bytes_per_sample))  # an empty batch has no chunks
    return [slice(start, start + step) for start in range(0, n, step)]


@functools.lru_cache
def _executor(workers: int, pid: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers)  # one per process: a forked child gets its own threads


def one_blas_thread():
    """Context manager: BLAS on a single thread (for small GEMMs and inside worker threads)."""
    return _BLAS.limit(limits=1, user_api="blas")


def map_chunks(fn, n: int, bytes_per_sample: int, chunk_bytes: int = CHUNK_BYTES) -> list:
    """fn(slice) for cache-sized chunks of the batch, spread over as many threads as BLAS may use.

    The patch matrix of a whole batch (118 MB for 50 maps of 16x64x64) does not fit in any
    cache, so one big GEMM waits on memory; chunks stay in cache and run about twice as fast.
    Each thread runs single-threaded BLAS on whole chunks: multithreaded BLAS on many small
    GEMMs synchronises per call and stalls badly when other processes share the cores.
    Thread k takes every workers-th chunk from k as one task, and this thread runs share 0:
    handing out chunks one by one woke a thread per chunk, which cost ~10% of a two-thread
    epoch here. Results come back in chunk order, the same with any number of threads.
    The loop is over groups of samples, never over pixels.
    """
    chunks = sample_chunks(n, bytes_per_sample, chunk_bytes)
    if len(chunks) <= 1:  # nothing to share out: skip asking BLAS (small batches, grad checks)
        return [fn(s) for s in chunks]
    blas_threads = [d["num_threads"] for d in _BLAS.select(user_api="blas").info()]
    workers = min(len(chunks), max(blas_threads, default=1))
    if workers <= 1:
        return [fn(s) for s in chunks]

    def run_share(k: int) -> list:
        return [fn(s) for s in chunks[k::workers]]

    with one_blas_thread():
        others = [_executor(workers - 1, os.getpid()).submit(run_share, k)
                  for k in range(1, workers)]
        shares = [run_share(0)] + [share.result() for share in others]
    return [shares[k % workers][k // workers] for k in range(len(chunks))]


def map_sample_chunks(fn, x: np.ndarray) -> list:
    """map_chunks for a memory-bound pass over x (ReLU, pooling): chunks of ELEMENTWISE_BYTES
    of its samples (none for an empty batch)."""
    return map_chunks(fn, len(x), x[:1].nbytes, ELEMENTWISE_BYTES)


def gemm_into(out: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """out += a @ b. Called on cache-sized chunks, where the product's temporary and the add
    stay in cache. (A BLAS gemm with beta=1 would skip the add, but the only float32 gemm
    with beta exposed is scipy's, whose import alone costs ~17 MiB of resident memory.)"""
    out += a @ b


def column_sums(a: np.ndarray) -> np.ndarray:
    """Sums over the rows of a 2-D (M, C) array, as one BLAS matrix-vector product: numpy's
    axis-0 reduction walks the C-wide rows one at a time, which for the narrow channel counts
    of conv maps and batch norm (C = 8..64) was 15-20 times slower here."""
    return np.ones(len(a), a.dtype) @ a


def column_means(a: np.ndarray) -> np.ndarray:
    """Means over the rows of a 2-D (M, C) array (column_sums / M, in a's dtype)."""
    return column_sums(a) / a.dtype.type(len(a))


def convolve(
    x: np.ndarray, W_col: np.ndarray, kh: int, kw: int, stride: int, pad: int,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """(N, H, W, C) conv (KH*KW*C, FN) [+ bias] -> (N, OH, OW, FN): im2col + GEMM per chunk
    of samples; the bias is added to each chunk while it is in cache."""
    n, h, w, c = x.shape
    oh, ow = conv_output_size(h, kh, stride, pad), conv_output_size(w, kw, stride, pad)
    fn = W_col.shape[1]
    out = np.empty((n, oh, ow, fn), dtype=x.dtype)

    def gemm(s: slice) -> None:
        np.matmul(im2col(x[s], kh, kw, stride, pad), W_col, out=out[s].reshape(-1, fn))
        if bias is not None:
            out[s] += bias

    map_chunks(gemm, n, oh * ow * len(W_col) * x.itemsize)
    return out


class ShiftGrid:
    """Stride-1 convolution on the padded grid, as KH GEMMs of row-shifted "wide" rows.

    The zero-padded input is stored as rows (n*HP*WP + tail, C), one row per grid point, so
    row r + i*WP + j is the (i, j) neighbour of grid point r. The wide matrix puts rows
    r..r+KW-1 side by side (K = KW*C): one kernel row of every patch. Kernel row i is then
    the contiguous slice of wide rows starting at i*WP, and the convolution is KH GEMMs:
    the input is copied three times (im2col copies it nine times), and each GEMM is three
    times as deep as with one GEMM per kernel offset (K = C), whose training epoch was about
    5% slower here.
    Outputs are computed for every grid point and the valid (OH, OW) corner is kept; the
    ~10% of wasted rows cost less than the copies they save.
    """

    def __init__(self, x_shape: tuple, kh: int, kw: int, pad: int):
        _, h, w, _ = x_shape
        self.kh, self.kw, self.pad = kh, kw, pad
        self.hp, self.wp = h + 2 * pad, w + 2 * pad
        self.oh, self.ow = self.hp - kh + 1, self.wp - kw + 1
        self.tail = (kh - 1) * self.wp + kw - 1  # zero rows that the last shifts read past

    def chunk_bytes(self, channels: int, filters: int, itemsize: int) -> int:
        """Bytes per sample of a chunk's wide input and output grid rows (for map_chunks)."""
        return self.hp * self.wp * (self.kw * channels + filters) * itemsize

    def padded_rows(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """(zero-padded rows, number of grid points) of a chunk x (n, H, W, C)."""
        n, h, w, c = x.shape
        m = n * self.hp * self.wp
        rows = np.zeros((m + self.tail, c), x.dtype)
        p = self.pad
        self.grid(rows[:m])[:, p : p + h, p : p + w] = x
        return rows, m

    def grid(self, rows: np.ndarray) -> np.ndarray:
        """Grid rows (n*HP*WP, D) as (n, HP, WP, D)."""
        return rows.reshape(-1, self.hp, self.wp, rows.shape[1])

    def wide(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows) - KW + 1, KW*D): wide row r is rows r..r+KW-1 side by side."""
        n, d = len(rows) - self.kw + 1, rows.shape[1]
        view = as_strided(rows, (n, self.kw * d), rows.strides, writeable=False)
        return np.ascontiguousarray(view)

    def kernel_rows(self, wide: np.ndarray, Wr: np.ndarray, m: int) -> np.ndarray:
        """(m, FN) = sum over kernel rows i of wide[i*WP : i*WP + m] @ Wr[i]."""
        out = np.matmul(wide[:m], Wr[0])
        for i in range(1, self.kh):
            gemm_into(out, wide[i * self.wp : i * self.wp + m], Wr[i])
        return out

    def forward(self, x: np.ndarray, Wk: np.ndarray) -> np.ndarray:
        """x (n, H, W, C), Wk (KH, KW, C, FN) -> (n, OH, OW, FN) view of the grid output."""
        rows, m = self.padded_rows(x)
        kh, kw, c, fn = Wk.shape
        out = self.kernel_rows(self.wide(rows), Wk.reshape(kh, kw * c, fn), m)
        return self.grid(out)[:, : self.oh, : self.ow]

    def backward(
        self, x: np.ndarray, dout: np.ndarray, Wk: np.ndarray, input_grad: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(dWk (KH, KW, C, FN), dx (n, H, W, C) or None), both as KH GEMMs of wide rows.

        dout sits on a zero grid, so grid points outside the output add nothing. dx is the
        forward pass of that grid, shifted down by `tail` rows, with the kernel flipped and
        transposed: no scatter, no col2im.
        """
        kh, kw, c, fn = Wk.shape
        rows, m = self.padded_rows(x)
        dgrid = np.zeros((self.tail + m + self.tail, fn), dout.dtype)
        dgrid_m = dgrid[self.tail : self.tail + m]
        self.grid(dgrid_m)[:, : self.oh, : self.ow] = dout
        wide = self.wide(rows)
        dWr = np.empty((kh, kw * c, fn), dout.dtype)
        for i in range(kh):
            # np.dot, not np.matmul: with a transposed operand, matmul's GEMMs in two threads
            # took as long as one after the other (measured); dot's run side by side
            np.dot(wide[i * self.wp : i * self.wp + m].T, dgrid_m, out=dWr[i])
        if not input_grad:
            return dWr.reshape(kh, kw, c, fn), None
        W_flip = np.ascontiguousarray(Wk[::-1, ::-1].transpose(0, 1, 3, 2))  # (KH, KW, FN, C)
        drows = self.kernel_rows(self.wide(dgrid), W_flip.reshape(kh, kw * fn, c), m)
        p, (h, w) = self.pad, x.shape[1:3]
        return dWr.reshape(kh, kw, c, fn), self.grid(drows)[:, p : p + h, p : p + w]


SHIFT_BYTES = 2**20  # per chunk of the shifted path: wide input + output grid rows, in L2 cache
ELEMENTWISE_BYTES = 2**20  # input bytes per chunk of ReLU and pooling: in L2 with the outputs
