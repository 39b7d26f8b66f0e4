"""Numerical gradient checks (float64, central differences) for every layer.

Bound: relative error ||a - n|| / (||a|| + ||n||) < 1e-6; central differences with eps=1e-5
are accurate to ~1e-10 here, so 1e-6 leaves room only for a real bug to fail.
"""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from glaucoma_lib.nn import conv_ops
from glaucoma_lib.nn.conv_layers import Convolution, MaxPooling
from glaucoma_lib.nn.conv_ops import (
    ShiftGrid,
    col2im,
    column_sums,
    gemm_into,
    im2col,
    map_chunks,
)
from glaucoma_lib.nn.gradcheck import numerical_gradient, relative_error
from glaucoma_lib.nn.layers import (
    Affine,
    BatchNormalization,
    Dropout,
    Flatten,
    Relu,
    SoftmaxWithLoss,
)

TOL = 1e-6


def check_layer(layer, x, params=(), forward=None):
    """Compare backward() with numerical gradients of sum(forward(x) * dout), the forward
    training (train_flg=True) unless told."""
    forward = forward or (lambda v: layer.forward(v, True))
    rng = np.random.default_rng(1)
    dout = rng.standard_normal(forward(x).shape)

    def f():
        return float((forward(x) * dout).sum())

    forward(x)
    dx = layer.backward(dout)
    assert relative_error(dx, numerical_gradient(f, x)) < TOL
    for name in params:
        forward(x)
        layer.backward(dout)
        analytic = getattr(layer, "d" + name)
        assert relative_error(analytic, numerical_gradient(f, getattr(layer, name))) < TOL, name


@pytest.mark.parametrize("stride,pad", [(1, 1), (2, 1), (2, 2), (1, 0)])
def test_convolution_gradients(stride, pad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6, 3))  # NHWC, odd sizes exercise the floor in the output size
    layer = Convolution(rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4), stride, pad)
    check_layer(layer, x, ("W", "b"))


def test_convolution_matches_direct_sum():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 5, 3))
    W, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    out = Convolution(W, b, stride=2, pad=1).forward(x)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    expected = np.zeros((2, 3, 3, 4))
    for i in range(3):
        for j in range(3):
            patch = xp[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3, :]  # (N, KH, KW, C)
            expected[:, i, j] = np.einsum("nhwc,fchw->nf", patch, W) + b
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def naive_convolution(x, W, b, pad):
    """Stride-1 reference: an explicit sum over kernel offsets, channels-last."""
    fn, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    oh, ow = xp.shape[1] - kh + 1, xp.shape[2] - kw + 1
    out = np.zeros((len(x), oh, ow, fn)) + b
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,fc->nhwf", xp[:, i : i + oh, j : j + ow], W[:, :, i, j])
    return out


SHIFT_CASES = [((3, 7, 5, 16), (4, 16, 3, 3), 1), ((2, 6, 9, 17), (5, 17, 3, 3), 2),
               ((5, 4, 4, 18), (3, 18, 3, 3), 0), ((2, 5, 6, 16), (2, 16, 2, 3), 1),
               ((1, 3, 3, 16), (3, 16, 3, 3), 3)]


@pytest.mark.parametrize("x_shape,w_shape,pad", SHIFT_CASES)
def test_shift_convolution_equals_im2col_and_naive(x_shape, w_shape, pad):
    """The shifted-GEMM path computes what the im2col path and a naive sum compute."""
    rng = np.random.default_rng(sum(x_shape) + pad)
    x, W, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(
        w_shape[0])
    shift, col = Convolution(W, b, 1, pad), Convolution(W, b, 1, pad)
    shift.method, col.method = "shift", "im2col"
    out = shift.forward(x, True)
    np.testing.assert_allclose(out, naive_convolution(x, W, b, pad), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(out, col.forward(x, True), rtol=1e-10, atol=1e-10)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(shift.backward(dout), col.backward(dout), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(shift.dW, col.dW, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(shift.db, col.db, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("x_shape,w_shape,pad", SHIFT_CASES[:3])
def test_shift_convolution_gradients(x_shape, w_shape, pad):
    rng = np.random.default_rng(1)
    layer = Convolution(rng.standard_normal(w_shape), rng.standard_normal(w_shape[0]), 1, pad)
    layer.method = "shift"
    check_layer(layer, rng.standard_normal((1, *x_shape[1:])), ("W", "b"))


def test_auto_method_picks_shift_for_wide_stride_1_layers():
    W, b = np.zeros((4, 16, 3, 3)), np.zeros(4)
    assert Convolution(W, b, 1, 1).uses_shift(16)
    assert not Convolution(W, b, 2, 1).uses_shift(16)
    assert not Convolution(W[:, :3], b, 1, 1).uses_shift(3)


def test_shift_convolution_float32_matches_float64_and_skips_input_grad():
    rng = np.random.default_rng(2)
    x, W, b = rng.standard_normal((7, 9, 8, 16)), rng.standard_normal((6, 16, 3, 3)), np.ones(6)
    exact = Convolution(W, b, 1, 1)
    fast = Convolution(W.astype(np.float32), b.astype(np.float32), 1, 1)
    fast.input_grad = False
    out = fast.forward(x.astype(np.float32), True)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, exact.forward(x, True), rtol=1e-4, atol=1e-4)
    dout = rng.standard_normal(out.shape)
    assert fast.backward(dout.astype(np.float32)) is None
    exact.backward(dout)
    assert fast.dW.dtype == np.float32
    np.testing.assert_allclose(fast.dW, exact.dW, rtol=1e-4, atol=1e-3)


def test_shift_grid_geometry():
    grid = ShiftGrid((2, 5, 6, 3), 3, 3, 1)
    assert (grid.hp, grid.wp, grid.oh, grid.ow, grid.tail) == (7, 8, 5, 6, 2 * 8 + 2)
    rows, m = grid.padded_rows(np.ones((2, 5, 6, 3)))
    assert m == 2 * 7 * 8 and rows.shape == (m + grid.tail, 3) and rows.sum() == 2 * 5 * 6 * 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_into_accumulates(dtype):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((7, 3)).astype(dtype), rng.standard_normal((3, 5)).astype(dtype)
    out = rng.standard_normal((7, 5)).astype(dtype)
    expected = out + a @ b
    gemm_into(out, a, b)
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    view = np.zeros((9, 5), dtype)[1:8]  # a contiguous slice of rows, as the shifts use
    gemm_into(view, a, b)
    np.testing.assert_allclose(view, a @ b, rtol=1e-5)


def test_col2im_is_the_adjoint_of_im2col():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 5, 3))
    col = im2col(x, 3, 3, stride=2, pad=1)
    c = rng.standard_normal(col.shape)
    assert np.isclose((col * c).sum(), (x * col2im(c, x.shape, 3, 3, 2, 1)).sum())


def test_float32_stays_float32():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    W, b = rng.standard_normal((4, 3, 3, 3)).astype(np.float32), np.zeros(4, np.float32)
    layer = Convolution(W, b, 1, 1)
    out = layer.forward(x, True)
    assert out.dtype == np.float32 and layer.backward(out).dtype == np.float32
    assert MaxPooling().forward(out).dtype == np.float32


@pytest.mark.parametrize("shape,stride,size", [((2, 6, 8, 3), 2, 2), ((2, 7, 7, 2), 2, 2),
                                               ((2, 7, 6, 2), 1, 2), ((1, 9, 9, 2), 3, 3)])
def test_max_pooling(shape, stride, size):
    x = np.random.default_rng(0).standard_normal(shape)
    layer = MaxPooling(size, size, stride)
    out = layer.forward(x)
    oh, ow = (shape[1] - size) // stride + 1, (shape[2] - size) // stride + 1
    assert out.shape == (shape[0], oh, ow, shape[3])
    expected = np.empty_like(out)
    for i in range(oh):
        for j in range(ow):
            window = x[:, i * stride : i * stride + size, j * stride : j * stride + size]
            expected[:, i, j] = window.max(axis=(1, 2))
    np.testing.assert_array_equal(out, expected)
    check_layer(layer, x)


def test_max_pooling_keeps_masks_not_the_input():
    """Non-overlapping pooling keeps boolean winner masks; gradients equal the reference."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 9, 8, 3)).round(1)  # rounding makes ties inside windows
    layer = MaxPooling()
    out = layer.forward(x, True)
    assert layer.x is None and all(m.dtype == bool for m in layer.winners)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    expected = np.zeros_like(x)
    for n, i, j, c in np.ndindex(out.shape):
        window = x[n, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2, c]
        a, b = np.unravel_index(window.argmax(), (2, 2))  # first maximum
        expected[n, 2 * i + a, 2 * j + b, c] = dout[n, i, j, c]
    np.testing.assert_array_equal(dx, expected)


def test_max_pooling_ties_route_gradient_once():
    layer = MaxPooling()
    layer.forward(np.ones((1, 2, 2, 1)), True)
    assert layer.backward(np.ones((1, 1, 1, 1))).sum() == 1


@pytest.mark.parametrize("threads", [1, 3])
def test_relu_and_pooling_in_chunks_over_threads_equal_whole_batch_results(monkeypatch, threads):
    """One sample per chunk, the chunks shared out over threads: the same arrays as whole-map
    numpy, with ties (rounded inputs) and a map that does not tile (9x7 pools to 4x3)."""
    monkeypatch.setattr(conv_ops, "ELEMENTWISE_BYTES", 1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 9, 7, 3)).round(1).astype(np.float32)
    dout = rng.standard_normal((7, 4, 3, 3)).astype(np.float32)
    with threadpool_limits(limits=threads, user_api="blas"):
        relu, pool = Relu(), MaxPooling()
        np.testing.assert_array_equal(relu.forward(x, True), np.maximum(x, 0))
        np.testing.assert_array_equal(relu.backward(x), x * (x > 0))
        out = pool.forward(x, True)
        dx = pool.backward(dout)
    windows = x[:, :8, :6].reshape(7, 4, 2, 3, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(
        7, 4, 3, 3, 4)
    np.testing.assert_array_equal(out, windows.max(axis=-1))
    first = windows.argmax(axis=-1)  # the first maximum of each window takes the gradient
    expected = np.zeros((7, 4, 3, 3, 4), np.float32)
    np.put_along_axis(expected, first[..., None], dout[..., None], axis=-1)
    expected = expected.reshape(7, 4, 3, 3, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(7, 8, 6, 3)
    np.testing.assert_array_equal(dx[:, :8, :6], expected)
    assert not dx[:, 8:].any() and not dx[:, :, 6:].any()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("pool_args", [(2, 2, 2), (3, 3, 2)])
def test_relu_and_pooling_without_caches_give_the_same_outputs_and_keep_nothing(
        monkeypatch, threads, pool_args):
    """Inference (train_flg=False) skips the masks, in chunks over threads; outputs equal."""
    monkeypatch.setattr(conv_ops, "ELEMENTWISE_BYTES", 1)
    x = np.random.default_rng(0).standard_normal((5, 9, 7, 3)).round(1).astype(np.float32)
    with threadpool_limits(limits=threads, user_api="blas"):
        for layer in (Relu(), MaxPooling(*pool_args)):
            kept = layer.forward(x, True)
            fresh = type(layer)() if isinstance(layer, Relu) else MaxPooling(*pool_args)
            np.testing.assert_array_equal(fresh.forward(x), kept)
            assert all(getattr(fresh, name) is None for name in fresh.cache)


def test_relu_and_pooling_take_an_empty_batch():
    x = np.zeros((0, 4, 4, 2), np.float32)
    for layer, out_shape in ((Relu(), (0, 4, 4, 2)), (MaxPooling(), (0, 2, 2, 2))):
        out = layer.forward(x, True)
        assert out.shape == out_shape
        assert layer.backward(out).shape == x.shape


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_map_chunks_returns_every_chunk_once_in_order_whatever_the_threads(threads):
    seen = []
    with threadpool_limits(limits=threads, user_api="blas"):
        results = map_chunks(lambda s: seen.append(s.start) or (s.start, s.stop), 10, 1, 3)
    assert results == [(0, 3), (3, 6), (6, 9), (9, 12)]
    assert sorted(seen) == [0, 3, 6, 9]


def test_relu_and_affine():
    rng = np.random.default_rng(0)
    check_layer(Relu(), rng.standard_normal((4, 5)) + 0.05)
    check_layer(Affine(rng.standard_normal((12, 3)), rng.standard_normal(3)),
                rng.standard_normal((4, 2, 2, 3)), ("W", "b"))


def test_flatten_is_channels_first():
    x = np.arange(2 * 2 * 3 * 4, dtype=float).reshape(2, 2, 3, 4)  # NHWC
    layer = Flatten()
    np.testing.assert_array_equal(layer.forward(x), x.transpose(0, 3, 1, 2).reshape(2, -1))
    check_layer(layer, np.random.default_rng(0).standard_normal((2, 2, 3, 4)))


@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 4, 5)])
@pytest.mark.parametrize("train_flg", [True, False])
def test_batchnorm(shape, train_flg):
    rng = np.random.default_rng(0)
    c = shape[-1]
    layer = BatchNormalization(rng.standard_normal(c), rng.standard_normal(c),
                               rng.standard_normal(c), rng.random(c) + 0.5)
    x = rng.standard_normal(shape) * 3 + 1
    if train_flg:
        out = layer.forward(x, True)
        axes = tuple(range(len(shape) - 1))
        xn = (out - layer.beta) / layer.gamma
        np.testing.assert_allclose(xn.mean(axis=axes), 0, atol=1e-12)
    saved = layer.running_mean.copy(), layer.running_var.copy()
    layer.frozen = not train_flg  # test mode with caches: the running statistics' gradient
    check_layer(layer, x, ("gamma", "beta"))
    if not train_flg:
        np.testing.assert_array_equal(layer.running_mean, saved[0])


def test_dropout_is_seeded_and_scales_at_test_time():
    x = np.ones((1000, 10))
    a, b = Dropout(0.5, np.random.default_rng(3)), Dropout(0.5, np.random.default_rng(3))
    out = a.forward(x, True)
    np.testing.assert_array_equal(out, b.forward(x, True))
    assert 0.45 < out.mean() < 0.55
    np.testing.assert_array_equal(a.backward(np.ones_like(x)), out)
    np.testing.assert_array_equal(a.forward(x, False), 0.5 * x)


@pytest.mark.parametrize("weights", [None, (1.0, 3.0)])
@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss(weights, one_hot):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 2))
    t = np.array([0, 1, 1, 0, 1, 1])
    target = np.eye(2)[t] if one_hot else t
    layer = SoftmaxWithLoss(weights)
    loss = layer.forward(x, target)
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    w = np.ones(6) if weights is None else np.asarray(weights)[t]
    assert np.isclose(loss, -(w * np.log(p[np.arange(6), t])).sum() / w.sum())
    dx = layer.backward()
    numeric = numerical_gradient(lambda: layer.forward(x, target), x)
    assert relative_error(dx, numeric) < TOL


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_sums_are_the_sums_over_rows(dtype):
    a = np.random.default_rng(0).standard_normal((4099, 16)).astype(dtype)
    sums = column_sums(a)
    assert sums.shape == (16,) and sums.dtype == dtype
    np.testing.assert_allclose(sums, a.astype(np.float64).sum(axis=0),
                               rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-3)
    assert column_sums(a[:0]).tolist() == [0.0] * 16


def batchnorm_case(c=4):
    rng = np.random.default_rng(5)
    layer = BatchNormalization(rng.standard_normal(c), rng.standard_normal(c),
                               rng.standard_normal(c), rng.random(c) + 0.5)
    return layer, rng.standard_normal((3, 5, 6, c)) * 2 + 1


def test_batchnorm_running_statistics_follow_the_momentum_rule():
    """running = momentum * old + (1 - momentum) * batch statistic, with the biased batch
    variance (divided by the row count), per channel over every other axis."""
    layer, x = batchnorm_case()
    old_mean, old_var = layer.running_mean.copy(), layer.running_var.copy()
    layer.forward(x, True)
    axes = (0, 1, 2)
    np.testing.assert_allclose(layer.running_mean, 0.9 * old_mean + 0.1 * x.mean(axis=axes),
                               rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, 0.9 * old_var + 0.1 * x.var(axis=axes, ddof=0),
                               rtol=1e-12)


def test_batchnorm_test_mode_is_the_formula_with_running_statistics():
    layer, x = batchnorm_case()
    expected = (layer.gamma * (x - layer.running_mean) / np.sqrt(layer.running_var + layer.eps)
                + layer.beta)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_batchnorm_test_mode_approaches_training_mode_on_a_repeated_batch():
    layer, x = batchnorm_case()
    train_out = layer.forward(x, True)
    gap = np.abs(layer.forward(x) - train_out).max()
    for _ in range(300):  # 0.9 ** 300: the running statistics are the batch's
        layer.forward(x, True)
    assert gap > 0.1
    np.testing.assert_allclose(layer.forward(x), train_out, atol=1e-6)
