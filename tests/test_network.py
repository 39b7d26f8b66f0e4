"""DeepConvNet: architecture, whole-network gradient checks, saliency gradients, overfitting."""

import numpy as np
import pytest

from glaucoma_lib.nn.gradcheck import (
    gradient_check,
    gradient_check_case,
    numerical_gradient,
    relative_error,
)
from glaucoma_lib.nn.network import DeepConvNet, NetworkConfig, build_network
from glaucoma_lib.nn.optim import Adam

TINY = {"input_dim": (3, 16, 16), "channels": (2, 3, 2, 3, 2, 2), "hidden_size": 6,
        "dropout_ratio": 0.0, "dtype": "float64", "seed": 1}


def tiny_batch(n=4, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3, 16, 16)), np.arange(n) % 2


def test_default_architecture_is_the_original():
    net = DeepConvNet()
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {
        "W1": (16, 3, 3, 3), "b1": (16,), "W2": (16, 16, 3, 3), "b2": (16,),
        "W3": (32, 16, 3, 3), "b3": (32,), "W4": (32, 32, 3, 3), "b4": (32,),
        "W5": (64, 32, 3, 3), "b5": (64,), "W6": (16, 64, 3, 3), "b6": (16,),
        "W7": (1024, 50), "b7": (50,), "W8": (50, 2), "b8": (2,),
    }
    assert all(v.dtype == np.float32 for v in net.params.values())
    table = net.summary().set_index("layer")
    assert table.loc["Conv4", "output shape"] == (32, 34, 34)  # pad 2 grows the map
    assert table.loc["Pool3", "output shape"] == (16, 8, 8)
    assert table["parameters"].sum() == sum(v.size for v in net.params.values())
    assert [n for n in table.index if n.startswith("Dropout")] == ["Dropout1", "Dropout2"]
    x = np.random.default_rng(0).random((3, 3, 64, 64), dtype=np.float32)
    assert net.predict(x).shape == (3, 2) and net.predict(x).dtype == np.float32
    proba = net.predict_proba(x, batch_size=2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)


def test_he_initialisation_is_seeded():
    a, b = DeepConvNet(), DeepConvNet()
    c = build_network(NetworkConfig(seed=1))
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["W1"], c.params["W1"])
    assert np.isclose(a.params["W7"].std(), np.sqrt(2 / 1024), rtol=0.05)


@pytest.mark.parametrize("seed", [0, *(pytest.param(s, marks=pytest.mark.slow) for s in (1, 2))])
@pytest.mark.parametrize("batchnorm", [False, True])
def test_whole_network_gradient_check(batchnorm, seed):
    net, x, t = gradient_check_case(seed, batchnorm=batchnorm, class_weights=(1.0, 2.5))
    errors = gradient_check(net, x, t)
    assert set(errors) == set(net.params)
    if batchnorm:
        # a bias right before BatchNorm has an exactly zero gradient (the mean removes it);
        # its numerical estimate is pure rounding noise, so check the analytic zero instead
        grads = net.gradient(x, t)
        before_bn = [f"b{i}" for i in range(1, 8)]
        assert all(np.abs(grads[k]).max() < 1e-12 for k in before_bn)
        errors = {k: v for k, v in errors.items() if k not in before_bn}
        assert {"gamma1", "beta7", "running_mean1", "running_var7"} <= set(net.state_arrays())
    assert max(errors.values()) < 1e-6, errors


def held_arrays(net):
    """Every array a layer holds besides its parameters, buffers and their gradients: the
    activations a forward pass left behind (declared in `cache` or not)."""
    kept = [(s.name, s.layer, {*s.params, *s.buffers, *(f"d{p}" for p in s.params)})
            for s in net.slots]
    kept.append(("SoftmaxWithLoss", net.last_layer, {"class_weights"}))
    return sorted(f"{name}.{attr}" for name, layer, allowed in kept
                  for attr, value in vars(layer).items()
                  if attr not in allowed and isinstance(value, np.ndarray | list))


def test_no_activations_outlive_a_training_step_or_a_test_mode_predict():
    net = build_network(NetworkConfig(**{**TINY, "batchnorm": True, "dropout_ratio": 0.5}))
    x, t = tiny_batch()
    net.loss(x, t)  # a training forward keeps what backward needs
    assert {"Conv1.x", "Relu1.mask", "Pool1.winners", "Dropout1.mask", "BatchNorm7.xn",
            "Affine8.x", "SoftmaxWithLoss.y"} <= set(held_arrays(net))
    grads = net.gradient(x, t)
    assert held_arrays(net) == []
    assert all(np.abs(g).max() > 0 for k, g in grads.items() if not k.startswith("b"))
    logits = net.predict(x)
    assert held_arrays(net) == []
    with net.frozen():  # caches for backward, the numbers of test mode
        np.testing.assert_array_equal(logits, net._forward(x, train_flg=True))
    assert held_arrays(net) != []
    net.input_gradient(x)
    net.feature_map_and_gradient(x, layer=2)
    net.summary()
    assert held_arrays(net) == []


def test_gradients_match_numerical_after_caches_were_freed():
    net, x, t = gradient_check_case(0)
    net.gradient(x, t)
    net.predict(x)  # frees everything; the next gradient must not depend on what was freed
    assert held_arrays(net) == []
    errors = gradient_check(net, x, t)
    assert max(errors.values()) < 1e-6, errors


def test_gradient_check_refuses_float32_or_dropout():
    x, t = tiny_batch()
    with pytest.raises(ValueError, match="float64"):
        gradient_check(build_network(NetworkConfig(**{**TINY, "dtype": "float32"})), x, t)
    with pytest.raises(ValueError, match="dropout"):
        gradient_check(build_network(NetworkConfig(**{**TINY, "dropout_ratio": 0.5})), x, t)


def test_input_gradient_matches_numerical():
    net = build_network(NetworkConfig(**{**TINY, "dropout_ratio": 0.5}))  # test mode: no masks
    x, _ = tiny_batch(n=2)
    analytic = net.input_gradient(x, class_index=1)
    assert analytic.shape == x.shape
    numeric = numerical_gradient(lambda: float(net.predict(x)[:, 1].sum()), x)
    assert relative_error(analytic, numeric) < 1e-6


@pytest.mark.parametrize("layer", [-1, 0, 3])
def test_feature_map_gradient_matches_numerical(layer):
    net = build_network(NetworkConfig(**{**TINY, "batchnorm": True}))
    x, _ = tiny_batch(n=2)
    feature, grad = net.feature_map_and_gradient(x, class_index=1, layer=layer)
    index = net.conv_feature_slots()[layer]
    assert feature.shape == grad.shape and feature.shape[1] == TINY["channels"][layer]
    a = feature.transpose(0, 2, 3, 1).copy()  # the network works channels-last inside

    def logit():
        return float(net._forward(a, train_flg=False, start=index + 1)[:, 1].sum())

    # zeros from the ReLU tie inside max-pool windows, where the logit has a kink and
    # central differences average the two one-sided slopes: compare at positive entries
    positive = a > 0
    numeric = numerical_gradient(logit, a)
    assert positive.sum() > 10
    assert relative_error(grad.transpose(0, 2, 3, 1)[positive], numeric[positive]) < 1e-6


def test_overfits_twenty_images():
    rng = np.random.default_rng(0)
    x = rng.random((20, 3, 32, 32), dtype=np.float32)
    t = np.arange(20) % 2
    net = build_network(NetworkConfig(input_dim=(3, 32, 32), dropout_ratio=0.0))
    opt = Adam(lr=0.003)
    for _ in range(150):
        opt.update(net.params, net.gradient(x, t))
        if net.accuracy(x, t) == 1.0:
            break
    assert net.accuracy(x, t) == 1.0
