"""The textbook layers (nn/textbook.py) are right (numerical gradients) and the fast layers
(nn/layers.py) compute the same outputs and gradients."""

import numpy as np
import pytest

from glaucoma_lib.nn import conv_layers, textbook
from glaucoma_lib.nn import layers as fast
from glaucoma_lib.nn.gradcheck import numerical_gradient, relative_error

TOL = 1e-10


def nhwc(a):
    return a.transpose(0, 2, 3, 1)


def nchw(a):
    return a.transpose(0, 3, 1, 2)


def conv_pair(rng, c, fn, stride, pad):
    W, b = 0.3 * rng.standard_normal((fn, c, 3, 3)), 0.1 * rng.standard_normal(fn)
    return (textbook.Convolution(W.copy(), b.copy(), stride, pad),
            conv_layers.Convolution(W.copy(), b.copy(), stride, pad))


def affine_pair(rng, d, m):
    W, b = 0.3 * rng.standard_normal((d, m)), 0.1 * rng.standard_normal(m)
    return textbook.Affine(W.copy(), b.copy()), fast.Affine(W.copy(), b.copy())


def cases(rng):
    """name -> (textbook layer, fast layer, input, whether the fast layer is channels-last)."""
    return {
        "conv 3->8, pad 1 (im2col path)": (*conv_pair(rng, 3, 8, 1, 1),
                                           rng.standard_normal((3, 3, 9, 9)), True),
        "conv 16->4, pad 2 (shift path)": (*conv_pair(rng, 16, 4, 1, 2),
                                           rng.standard_normal((2, 16, 7, 7)), True),
        "conv 4->5, stride 2": (*conv_pair(rng, 4, 5, 2, 1),
                                rng.standard_normal((2, 4, 9, 9)), True),
        "max pooling 2x2 of 17x17": (textbook.Pooling(2, 2, 2), conv_layers.MaxPooling(2, 2, 2),
                                     rng.standard_normal((2, 3, 17, 17)), True),
        "relu": (textbook.Relu(), fast.Relu(), rng.standard_normal((3, 4, 5, 5)), True),
        "affine": (*affine_pair(rng, 12, 5), rng.standard_normal((4, 12)), False),
        "dropout": (textbook.Dropout(0.5, np.random.default_rng(1)),
                    fast.Dropout(0.5, np.random.default_rng(1)),
                    rng.standard_normal((6, 10)), False),
    }


def fast_forward_backward(layer, x, dout, channels_last):
    """The fast layer in training mode, forward then backward; arrays in (N, C, H, W) order."""
    to, back = (nhwc, nchw) if channels_last else (lambda a: a, lambda a: a)
    out = layer.forward(to(x), train_flg=True)  # training mode: keep what backward needs
    return back(out), back(layer.backward(to(dout)))


@pytest.mark.parametrize("name", list(cases(np.random.default_rng(0))))
def test_fast_layers_match_the_textbook_layers(name):
    rng = np.random.default_rng(0)
    slow, quick, x, channels_last = cases(rng)[name]
    out_t = slow.forward(x, train_flg=True)
    dout = rng.standard_normal(out_t.shape)
    dx_t = slow.backward(dout)
    out_f, dx_f = fast_forward_backward(quick, x, dout, channels_last)
    assert out_f.shape == out_t.shape and dx_f.shape == dx_t.shape == x.shape
    np.testing.assert_allclose(out_f, out_t, rtol=0, atol=TOL)
    np.testing.assert_allclose(dx_f, dx_t, rtol=0, atol=TOL)
    for grad in ("dW", "db"):
        if hasattr(slow, grad):
            np.testing.assert_allclose(getattr(quick, grad), getattr(slow, grad), rtol=0, atol=TOL)


def test_fast_softmax_with_loss_matches_the_textbook_one():
    rng = np.random.default_rng(0)
    x, t = 3 * rng.standard_normal((7, 2)), rng.integers(0, 2, 7)
    slow, quick = textbook.SoftmaxWithLoss(), fast.SoftmaxWithLoss()
    assert quick.forward(x, t) == pytest.approx(slow.forward(x, t), abs=TOL)
    np.testing.assert_allclose(quick.backward(), slow.backward(), rtol=0, atol=TOL)


@pytest.mark.parametrize("name", list(cases(np.random.default_rng(0))))
def test_textbook_gradients_match_central_differences(name):
    """Loss sum(out * dout), so its gradient w.r.t. out is dout: backward's input and parameter
    gradients against numerical ones."""
    rng = np.random.default_rng(0)
    layer, _, x, _ = cases(rng)[name]
    x = x + 0.05 * np.sign(x)  # keep ReLU and pooling away from kinks and ties
    dout = rng.standard_normal(layer.forward(x, train_flg=True).shape)

    def loss():
        if isinstance(layer, textbook.Dropout):  # the same mask in every forward pass
            layer.rng = np.random.default_rng(1)
        return float((layer.forward(x, train_flg=True) * dout).sum())

    loss()
    dx = layer.backward(dout)
    assert relative_error(dx, numerical_gradient(loss, x)) < 1e-7
    for param, grad in (("W", "dW"), ("b", "db")):
        if hasattr(layer, param):
            analytic = getattr(layer, grad).copy()
            assert relative_error(analytic, numerical_gradient(loss, getattr(layer, param))) < 1e-7


def test_textbook_softmax_gradient_matches_central_differences():
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 3)), np.array([0, 2, 1, 1, 0])
    layer = textbook.SoftmaxWithLoss()
    layer.forward(x, t)
    dx = layer.backward()
    assert relative_error(dx, numerical_gradient(lambda: layer.forward(x, t), x)) < 1e-7


def test_textbook_dropout_scales_at_test_time():
    layer = textbook.Dropout(0.25, np.random.default_rng(0))
    np.testing.assert_array_equal(layer.forward(np.ones((2, 4))), np.full((2, 4), 0.75))
