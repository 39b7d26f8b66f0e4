"""The GAP-CNN: its layers (gradient checks, float64 central differences), the warm-up + cosine
schedule, the whole network's gradient check, the augmenter, a toy fit with mirror averaging,
and its weight file (round trip, header checks before any weight is read)."""

import re
from dataclasses import replace

import numpy as np
import pytest

from glaucoma_lib import metrics
from glaucoma_lib.models.disc_model import FORMAT_VERSION
from glaucoma_lib.models.gap_cnn import CropAugmenter, GapCnnConfig, GapCnnModel, fit_gap_cnn
from glaucoma_lib.models.kinds import load_model
from glaucoma_lib.nn import train
from glaucoma_lib.nn.gap_layers import (
    GlobalAveragePooling,
    PerImageStandardize,
    SmoothedSoftmaxWithLoss,
)
from glaucoma_lib.nn.gap_net import GapConvNet, GapNetConfig
from glaucoma_lib.nn.gradcheck import gradient_check, numerical_gradient, relative_error
from glaucoma_lib.nn.network import META_KEY
from glaucoma_lib.nn.optim import decays
from glaucoma_lib.nn.schedule import WarmupCosine
from glaucoma_lib.nn.weight_files import WeightsError, json_entry, save_npz

TOL = 1e-6


def layer_errors(layer, x, params=(), forward=None):
    """Relative errors of backward() against numerical gradients of sum(forward(x) * dout),
    for the input and each named parameter."""
    forward = forward or (lambda a: layer.forward(a, train_flg=True))
    dout = np.random.default_rng(1).standard_normal(forward(x).shape)

    def f():
        return float((forward(x) * dout).sum())

    forward(x)
    errors = {"x": relative_error(layer.backward(dout), numerical_gradient(f, x))}
    for name in params:
        forward(x)
        layer.backward(dout)
        errors[name] = relative_error(getattr(layer, "d" + name),
                                      numerical_gradient(f, getattr(layer, name)))
    return errors


def test_global_average_pooling_values_and_gradient():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 4))
    layer = GlobalAveragePooling()
    np.testing.assert_allclose(layer.forward(x), x.mean(axis=(1, 2)))
    assert max(layer_errors(layer, x).values()) < TOL


def test_gradient_check_catches_a_wrong_backward():
    """The check can fail: a GAP backward that forgets the 1/(H*W) factor is caught."""

    class Wrong(GlobalAveragePooling):
        def backward(self, dout):
            return np.broadcast_to(dout[:, None, None, :], self.x_shape).copy()

    x = np.random.default_rng(0).standard_normal((2, 3, 5, 4))
    assert layer_errors(Wrong(), x)["x"] > 0.5


def test_per_image_standardize_values_and_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 6, 5, 3)) * 2 + 1
    layer = PerImageStandardize()
    out = layer.forward(x)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(1, 2)), 1, atol=1e-5)
    assert max(layer_errors(layer, x).values()) < TOL


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_smoothed_softmax_gradient_and_value(smoothing):
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 2)), np.array([0, 1, 1, 0, 1])
    layer = SmoothedSoftmaxWithLoss(smoothing)
    loss = layer.forward(x, t)
    # two classes: binary cross-entropy of the logit x1 - x0 against smoothed 0/1 targets
    z, q = x[:, 1] - x[:, 0], t * (1 - smoothing) + smoothing / 2
    bce = -(q * np.log(1 / (1 + np.exp(-z))) + (1 - q) * np.log(1 / (1 + np.exp(z)))).mean()
    assert loss == pytest.approx(bce, rel=1e-12)
    numeric = numerical_gradient(lambda: layer.forward(x, t), x)
    layer.forward(x, t)
    assert relative_error(layer.backward(1.0), numeric) < TOL


def test_warmup_cosine_schedule():
    s = WarmupCosine(lr=3e-3, epochs=30, warmup=2)
    assert s(0) == pytest.approx(1.5e-3) and s(1) == pytest.approx(3e-3)
    assert s(2) == pytest.approx(3e-3)
    assert s(16) == pytest.approx(1.5e-3)  # half way through the 28 cosine epochs
    assert 0 < s(29) < 1e-4
    rates = [s(e) for e in range(2, 30)]
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))
    with pytest.raises(ValueError):
        WarmupCosine(1e-3, 5, 5)


def test_whole_network_gradient_check():
    config = GapNetConfig(input_size=8, channels=(3, 4, 5), pooled_blocks=2, dropout_ratio=0.0,
                          smoothing=0.1, dtype="float64", seed=3)
    net = GapConvNet(config)
    rng = np.random.default_rng(0)
    for key, value in net.params.items():
        if key.startswith("beta"):  # away from ReLU's kink, as gradcheck.gradient_check_case
            value[...] = rng.normal(0, 0.3, value.shape)
    x, t = rng.standard_normal((4, 3, 8, 8)), np.array([0, 1, 1, 0])
    errors = gradient_check(net, x, t)
    assert set(errors) == set(net.params)
    assert max(errors.values()) < 1e-6, errors


def test_network_float32_shapes_and_no_conv_bias():
    net = GapConvNet(GapNetConfig(input_size=16, channels=(4, 8), pooled_blocks=1))
    assert sorted(k for k in net.params if re.fullmatch(r"[Wb]\d+", k)) == ["W1", "W2", "W3", "b3"]
    p = net.predict_proba(np.random.default_rng(0).random((5, 3, 16, 16), dtype=np.float32))
    assert p.shape == (5, 2) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)


def test_augmenter_without_jitter_only_flips_and_with_it_stays_in_range():
    x = np.random.default_rng(0).random((4, 3, 12, 12), dtype=np.float32)
    still = CropAugmenter(0.0, 0.0, 0.0, 0.0, 0.0)(x, np.random.default_rng(0))
    for s, image in zip(still, x, strict=True):  # only flips remain
        flips = [image, image[:, :, ::-1], image[:, ::-1], image[:, ::-1, ::-1]]
        assert any(np.allclose(s, f, atol=1e-5) for f in flips)
    out = CropAugmenter()(x, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1 and not np.allclose(out, x)


def test_fit_learns_a_toy_signal_and_flip_averaging():
    rng = np.random.default_rng(0)
    t = np.arange(64) % 2
    x = rng.random((64, 3, 16, 16), dtype=np.float32) * 0.3
    x[t == 1, :, 6:10, 6:10] += 0.6  # a bright centre spot marks class 1
    config = replace(GapCnnConfig(), input_size=16, channels=(4, 8), pooled_blocks=1,
                     epochs=8, warmup=1, batch_size=16)
    model = fit_gap_cnn(x, t, config, seed=0)
    p = model.predict_proba(x)
    assert p.shape == (64,)
    assert metrics.roc_auc(t, p) > 0.9
    plain = GapCnnModel(replace(config, flip_average=False), model.network)
    expected = 0.5 * (plain.predict_proba(x) + plain.predict_proba(x[..., ::-1].copy()))
    np.testing.assert_allclose(p, expected, rtol=1e-5)


def test_fit_decays_every_parameter_as_pytorch_adamw(monkeypatch):
    """The recipe's AdamW is PyTorch's default: decoupled decay of BatchNorm's gamma and beta
    and the classifier's bias as well as the weights."""
    made = []

    def spy(name, **kw):
        made.append(real(name, **kw))
        return made[-1]

    real = train.make_optimizer
    monkeypatch.setattr(train, "make_optimizer", spy)
    config = replace(GapCnnConfig(), input_size=16, channels=(4, 8), pooled_blocks=1, epochs=1,
                     warmup=0, batch_size=8)
    model = fit_gap_cnn(np.zeros((8, 3, 16, 16), np.float32), np.arange(8) % 2, config)
    (optimizer,) = made
    assert optimizer.decoupled and optimizer.weight_decay == config.weight_decay
    assert {"gamma1", "beta1", "b3"} <= set(model.network.params)
    assert all(decays(key, optimizer.decay_all) for key in model.network.params)


def _small_model(tmp_path):
    config = replace(GapCnnConfig(), input_size=16, channels=(4, 8), pooled_blocks=1, epochs=1,
                     warmup=0, batch_size=8)
    x = np.random.default_rng(0).random((16, 3, 16, 16), dtype=np.float32)
    model = fit_gap_cnn(x, np.arange(16) % 2, config, seed=0)
    model.threshold = 0.4
    return model, x, model.save(tmp_path / "cnn.npz")


def test_weight_file_round_trip_gives_the_same_probabilities(tmp_path):
    model, x, path = _small_model(tmp_path)
    loaded = load_model(path)
    assert loaded.kind == "gap_cnn" and loaded.threshold == 0.4
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))


def _with_header(model: GapCnnModel, tmp_path, **changes):
    """The model's weight file with header entries changed (config entries merged)."""
    good = model.save(tmp_path / "good.npz")
    with np.load(good, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    header = {"kind": "gap_cnn", "format_version": FORMAT_VERSION, "threshold": 0.5,
              "metadata": {}, "config": model.config.to_dict()}
    header["config"] |= changes.pop("config", {})
    arrays[META_KEY] = json_entry(header | changes)
    return save_npz(tmp_path / "changed.npz", arrays)


@pytest.mark.parametrize(("changes", "named"), [
    ({"threshold": float("nan")}, "threshold"),
    ({"threshold": 1.5}, "threshold"),
    ({"config": {"input_size": 32}}, "input_size"),  # disagrees with the stored network
    ({"config": {"epochs": "20"}}, "config.epochs"),
    ({"config": {"mystery": 1}}, "unknown fields"),
    ({"config": {"channels": [4, 100000]}}, "channels"),
])
def test_a_bad_header_is_refused_by_name_before_any_weight_is_read(tmp_path, changes, named):
    model, _, _ = _small_model(tmp_path)
    with pytest.raises(WeightsError, match=named):
        load_model(_with_header(model, tmp_path, **changes))


def test_finite_but_absurd_weights_are_refused(tmp_path):
    model, _, _ = _small_model(tmp_path)
    model.network.params["W2"][0, 0, 0, 0] = 1e38
    path = model.save(tmp_path / "absurd.npz")
    with pytest.raises(WeightsError, match="W2"):
        load_model(path)


def test_the_cnn_study_batch_equals_the_serial_run_and_returns_the_finals(tmp_path,
                                                                           private_cache):
    """Folds and final models in one batch of tasks: the same numbers with two workers as in
    this process, out-of-fold probabilities for every image, finals where asked."""
    from glaucoma_lib.data.synthetic import ensure_synthetic
    from glaucoma_lib.study import signal
    data = signal.load_signal_data(ensure_synthetic(tmp_path / "syn", n_images=24), k=2)
    config = replace(GapCnnConfig(), input_size=16, channels=(4, 8), pooled_blocks=1, epochs=1,
                     warmup=0, batch_size=8)
    sets, regions = {"S": data}, {"S": ("disc", "off-disc")}
    serial, serial_models = signal.cnn_study(sets, regions, ("S",), config, seed=1, jobs=1)
    pooled, pooled_models = signal.cnn_study(sets, regions, ("S",), config, seed=1, jobs=2)
    assert set(serial["S"]) == {"CNN, disc crop", "CNN, off-disc crop"}
    for row in serial["S"]:
        np.testing.assert_array_equal(serial["S"][row], pooled["S"][row])
        assert np.isfinite(serial["S"][row]).all() and serial["S"][row].shape == (24,)
    x = signal.cnn_inputs(data, "disc", config)
    np.testing.assert_array_equal(serial_models["S"].predict_proba(x),
                                  pooled_models["S"].predict_proba(x))


@pytest.mark.parametrize(("standardise", "batchnorm"), [(False, True), (True, False)])
def test_the_ablated_networks_pass_the_gradient_check(standardise, batchnorm):
    """Without standardisation the first conv is slot 1; without BatchNorm the convs get
    biases: either way every parameter's gradient is right."""
    config = GapNetConfig(input_size=8, channels=(3, 4), pooled_blocks=1, dropout_ratio=0.0,
                          dtype="float64", seed=2, standardise=standardise, batchnorm=batchnorm)
    net = GapConvNet(config)
    assert ("b1" in net.params) != batchnorm
    assert net.slots[net.first_conv].name == "Conv1"
    rng = np.random.default_rng(1)
    errors = gradient_check(net, rng.standard_normal((4, 3, 8, 8)), np.array([0, 1, 1, 0]))
    assert set(errors) == set(net.params) and max(errors.values()) < 1e-6, errors


def test_without_the_schedule_the_learning_rate_stays_put():
    from glaucoma_lib.models import gap_cnn
    seen = []

    class Spy(gap_cnn.Trainer):
        def __init__(self, *args, lr_schedule=None, **kwargs):
            seen.append(lr_schedule)
            super().__init__(*args, lr_schedule=lr_schedule, **kwargs)

    x = np.random.default_rng(0).random((8, 3, 16, 16), dtype=np.float32)
    config = replace(GapCnnConfig(), input_size=16, channels=(4,), pooled_blocks=1, epochs=1,
                     warmup=0, batch_size=8)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gap_cnn, "Trainer", Spy)
        fit_gap_cnn(x, np.arange(8) % 2, config)
        fit_gap_cnn(x, np.arange(8) % 2, replace(config, schedule=False))
    assert isinstance(seen[0], WarmupCosine) and seen[1] is None


def test_the_committed_airogs_cnn_is_the_cnn_and_scores_a_photograph():
    """glaucoma_lib/weights/airogs_cnn.npz: the GAP-CNN trained on all AIROGS images, usable by
    predict --weights, its threshold from out-of-fold probabilities."""
    from conftest import fundus

    from glaucoma_lib.cli.predict import predict
    from glaucoma_lib.models.kinds import AIROGS_CNN_WEIGHTS_PATH
    model = load_model(AIROGS_CNN_WEIGHTS_PATH)
    assert model.kind == "gap_cnn" and 0 < model.threshold < 1
    assert model.metadata["trained_on"].startswith("EyePACS-AIROGS-light")
    [row] = predict([fundus()], weights=AIROGS_CNN_WEIGHTS_PATH, as_frame=False)
    assert row.status == "ok" and 0 <= row.probability <= 1
