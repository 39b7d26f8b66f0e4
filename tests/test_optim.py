"""Optimisers: the original update rules, weight decay, settable lr, exact state round trip."""

import numpy as np
import pytest

from glaucoma_lib.nn.optim import (
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    Nesterov,
    RMSprop,
    make_optimizer,
    weight_decay,
)


def reference_steps(name, p, grads, lr):
    """Textbook updates written out independently, for a single parameter array."""
    p, v, h, m = p.copy(), np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for i, g in enumerate(grads, start=1):
        if name == "sgd":
            p = p - lr * g
        elif name == "momentum":
            v = 0.9 * v - lr * g
            p = p + v
        elif name == "nesterov":
            v = 0.9 * v - lr * g
            p = p + 0.81 * v - 1.9 * lr * g
        elif name == "adagrad":
            h = h + g * g
            p = p - lr * g / (np.sqrt(h) + 1e-7)
        elif name == "rmsprop":
            h = 0.99 * h + 0.01 * g * g
            p = p - lr * g / (np.sqrt(h) + 1e-7)
        elif name == "adam":
            m = m + 0.1 * (g - m)
            v = v + 0.001 * (g * g - v)
            p = p - lr * np.sqrt(1 - 0.999**i) / (1 - 0.9**i) * m / (np.sqrt(v) + 1e-7)
    return p


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
def test_update_rules(name):
    rng = np.random.default_rng(0)
    start = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(4)]
    opt = make_optimizer(name.upper() if name == "sgd" else name.capitalize(), lr=0.05)
    params = {"W1": start.copy()}
    for g in grads:
        opt.update(params, {"W1": g})
    np.testing.assert_allclose(params["W1"], reference_steps(name, start, grads, 0.05), rtol=1e-12)


def test_make_optimizer_names():
    assert isinstance(make_optimizer("ADAM"), Adam) and isinstance(make_optimizer("sgd"), SGD)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("lbfgs")


def test_float32_params_stay_float32():
    params = {"W1": np.ones(3, np.float32)}
    Adam().update(params, {"W1": np.ones(3, np.float32)})
    assert params["W1"].dtype == np.float32


def test_weight_decay_l2_and_decoupled_only_touch_weights():
    params = {"W1": np.ones(2), "b1": np.ones(2)}
    zero = {"W1": np.zeros(2), "b1": np.zeros(2)}
    assert weight_decay(params, zero, 0.1)["W1"].tolist() == [0.1, 0.1]
    l2 = {k: v.copy() for k, v in params.items()}
    SGD(lr=0.5, weight_decay=0.1).update(l2, zero)
    np.testing.assert_allclose(l2["W1"], 0.95)
    np.testing.assert_array_equal(l2["b1"], 1.0)
    decoupled = {k: v.copy() for k, v in params.items()}
    Adam(lr=0.5, weight_decay=0.1, decoupled=True).update(decoupled, zero)
    np.testing.assert_allclose(decoupled["W1"], 0.95)  # Adam with zero grads moves nothing else
    np.testing.assert_array_equal(decoupled["b1"], 1.0)


def test_decay_all_touches_every_parameter_as_pytorch_adamw():
    """decay_all=True decays biases and BatchNorm's gamma and beta too (PyTorch's AdamW default:
    p -= lr * weight_decay * p for every parameter)."""
    params = {"W1": np.ones(2), "b1": np.ones(2), "gamma1": np.ones(2), "beta1": np.ones(2)}
    zero = {k: np.zeros(2) for k in params}
    Adam(lr=0.5, weight_decay=0.1, decoupled=True, decay_all=True).update(params, zero)
    for value in params.values():
        np.testing.assert_allclose(value, 0.95)
    assert weight_decay({"b1": np.ones(2)}, {"b1": np.zeros(2)}, 0.1, decay_all=True)[
        "b1"].tolist() == [0.1, 0.1]


def test_lr_is_settable():
    params = {"W1": np.zeros(1)}
    opt = SGD(lr=1.0)
    opt.lr = 0.25
    opt.update(params, {"W1": np.ones(1)})
    assert params["W1"][0] == -0.25


@pytest.mark.parametrize("cls", [SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam])
def test_state_round_trip_continues_identically(cls):
    rng = np.random.default_rng(1)
    grads = [{"W1": rng.standard_normal(3)} for _ in range(6)]
    a, params_a = cls(lr=0.1), {"W1": np.ones(3)}
    for g in grads[:3]:
        a.update(params_a, g)
    b, params_b = cls(lr=0.1), {"W1": params_a["W1"].copy()}
    b.load_state_dict(*a.state_dict())
    for g in grads[3:]:
        a.update(params_a, g)
        b.update(params_b, g)
    np.testing.assert_array_equal(params_a["W1"], params_b["W1"])
    with pytest.raises(ValueError, match="optimizer state"):
        (SGD if cls is not SGD else Adam)().load_state_dict(*a.state_dict())
