"""DeepConvNet: the original study's CNN, configurable, with safe weight files.

Default architecture (the original, exactly): input (3, 64, 64);
conv16-relu-conv16-relu-pool, conv32-relu-conv32(pad 2)-relu-pool, conv64-relu-conv16-relu-pool,
affine 1024->50, relu, dropout 0.5, affine 50->2, dropout 0.5, softmax-with-loss.
All convolutions are 3x3, stride 1, pad 1 unless said; pooling is 2x2 stride 2; He init.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from glaucoma_lib.atomic import atomic_write
from glaucoma_lib.layers import (
    Affine,
    BatchNormalization,
    ChannelsLast,
    Convolution,
    Dropout,
    Flatten,
    MaxPooling,
    Relu,
    SoftmaxWithLoss,
    conv_output_size,
)

CONFIG_KEY = "__config__"
META_KEY = "__meta__"


class WeightsError(ValueError):
    """A weight file that cannot be used; the message names the file and the problem."""


@dataclass
class NetworkConfig:
    """Everything needed to rebuild a network; saved inside every weight file."""

    input_dim: tuple[int, int, int] = (3, 64, 64)
    channels: tuple[int, ...] = (16, 16, 32, 32, 64, 16)  # conv layers, pooled after every pair
    pads: tuple[int, ...] = (1, 1, 1, 2, 1, 1)
    hidden_size: int = 50
    output_size: int = 2
    batchnorm: bool = False
    final_dropout: bool = True
    dropout_ratio: float = 0.5
    class_weights: tuple[float, ...] | None = None
    seed: int = 0
    dtype: str = "float32"
    kernel_size: int = 3

    def __post_init__(self):
        self.input_dim = tuple(int(v) for v in self.input_dim)
        self.channels = tuple(int(v) for v in self.channels)
        self.pads = tuple(int(v) for v in self.pads)
        if self.class_weights is not None:
            self.class_weights = tuple(float(v) for v in self.class_weights)
        if len(self.channels) != len(self.pads) or len(self.channels) % 2:
            raise ValueError("channels and pads need the same, even length (conv pairs + pool)")
        if not 0.0 <= self.dropout_ratio < 1.0:
            raise ValueError(f"dropout_ratio must be in [0, 1), got {self.dropout_ratio}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> NetworkConfig:
        return cls(**json.loads(text))


@dataclass
class _Slot:
    """A layer plus the parameter names it reads (attribute name -> params key)."""

    name: str
    layer: Any
    params: dict[str, str] = field(default_factory=dict)
    buffers: dict[str, str] = field(default_factory=dict)


class DeepConvNet:
    """The original DeepConvNet API (params W1..W8/b1..b8, predict, loss, accuracy, gradient,
    save_params, load_params) built from a NetworkConfig."""

    def __init__(self, input_dim=(3, 64, 64), config: NetworkConfig | None = None):
        self.config = config if config is not None else NetworkConfig(input_dim=input_dim)
        cfg = self.config
        self.dtype = np.dtype(cfg.dtype)
        init_rng, dropout_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(2)
        )
        self.dropout_rng = dropout_rng
        self.params: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}  # BatchNorm running statistics (not trained)
        self.slots: list[_Slot] = [_Slot("ChannelsLast", ChannelsLast())]

        c, h, w = cfg.input_dim
        k = cfg.kernel_size
        for i, (out_c, pad) in enumerate(zip(cfg.channels, cfg.pads, strict=True), start=1):
            self._add_param(f"W{i}", (out_c, c, k, k), fan_in=c * k * k, rng=init_rng)
            self.slots.append(
                _Slot(f"Conv{i}", Convolution(None, None, 1, pad), {"W": f"W{i}", "b": f"b{i}"})
            )
            self._maybe_batchnorm(i, out_c)
            self.slots.append(_Slot(f"Relu{i}", Relu()))
            c, h, w = out_c, conv_output_size(h, k, 1, pad), conv_output_size(w, k, 1, pad)
            if i % 2 == 0:
                self.slots.append(_Slot(f"Pool{i // 2}", MaxPooling(2, 2, 2)))
                h, w = conv_output_size(h, 2, 2, 0), conv_output_size(w, 2, 2, 0)
        self.slots[1].layer.input_grad = False  # nothing upstream of the first conv to train

        n_conv = len(cfg.channels)
        hidden, out = n_conv + 1, n_conv + 2
        self.slots.append(_Slot("Flatten", Flatten()))
        self._add_param(f"W{hidden}", (c * h * w, cfg.hidden_size), c * h * w, init_rng)
        self.slots.append(
            _Slot(f"Affine{hidden}", Affine(None, None), {"W": f"W{hidden}", "b": f"b{hidden}"})
        )
        self._maybe_batchnorm(hidden, cfg.hidden_size)
        self.slots.append(_Slot(f"Relu{hidden}", Relu()))
        if cfg.dropout_ratio > 0:
            self.slots.append(_Slot("Dropout1", Dropout(cfg.dropout_ratio, dropout_rng)))
        self._add_param(f"W{out}", (cfg.hidden_size, cfg.output_size), cfg.hidden_size, init_rng)
        self.slots.append(
            _Slot(f"Affine{out}", Affine(None, None), {"W": f"W{out}", "b": f"b{out}"})
        )
        if cfg.final_dropout and cfg.dropout_ratio > 0:
            self.slots.append(_Slot("Dropout2", Dropout(cfg.dropout_ratio, dropout_rng)))
        self.last_layer = SoftmaxWithLoss(cfg.class_weights)
        self.last_loss = float("nan")  # loss of the latest gradient() batch, for the Trainer
        self._bind()

    # ---- construction -------------------------------------------------------------------
    def _add_param(self, name: str, shape: tuple, fan_in: int, rng: np.random.Generator):
        scale = np.sqrt(2.0 / fan_in)  # He initialisation for ReLU networks
        self.params[name] = (scale * rng.standard_normal(shape)).astype(self.dtype)
        width = shape[0] if len(shape) == 4 else shape[1]  # conv W is (FN, C, KH, KW)
        self.params["b" + name[1:]] = np.zeros(width, self.dtype)

    def _maybe_batchnorm(self, index: int, width: int):
        if not self.config.batchnorm:
            return
        names = {"gamma": f"gamma{index}", "beta": f"beta{index}"}
        buffers = {"running_mean": f"running_mean{index}", "running_var": f"running_var{index}"}
        self.params[names["gamma"]] = np.ones(width, self.dtype)
        self.params[names["beta"]] = np.zeros(width, self.dtype)
        self.buffers[buffers["running_mean"]] = np.zeros(width, self.dtype)
        self.buffers[buffers["running_var"]] = np.ones(width, self.dtype)
        layer = BatchNormalization(None, None, None, None)
        self.slots.append(_Slot(f"BatchNorm{index}", layer, names, buffers))

    def _bind(self):
        """Point every layer at the current arrays in params/buffers (after init or load)."""
        for slot in self.slots:
            for attr, key in slot.params.items():
                setattr(slot.layer, attr, self.params[key])
            for attr, key in slot.buffers.items():
                setattr(slot.layer, attr, self.buffers[key])

    # ---- forward / backward -------------------------------------------------------------
    def _forward(
        self, x: np.ndarray, train_flg: bool, start: int = 0, stop: int | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        for slot in self.slots[start:stop]:
            if isinstance(slot.layer, Dropout | BatchNormalization):
                x = slot.layer.forward(x, train_flg)
            else:
                x = slot.layer.forward(x)
        return x

    def _backward(self, dout: np.ndarray, stop: int = 0) -> np.ndarray | None:
        for slot in reversed(self.slots[stop:]):
            dout = slot.layer.backward(dout)
        return dout

    def predict(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        """Logits (N, output_size)."""
        return self._forward(x, train_flg)

    def predict_proba(self, x: np.ndarray, batch_size: int = 100) -> np.ndarray:
        """Softmax probabilities (N, output_size), in batches to bound memory."""
        logits = np.concatenate(
            [self.predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        )
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=1, keepdims=True)

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        return self.last_layer.forward(self.predict(x, train_flg=True), t)

    def accuracy(self, x: np.ndarray, t: np.ndarray, batch_size: int = 100) -> float:
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        correct = sum(
            int((self.predict(x[i : i + batch_size]).argmax(axis=1) == t[i : i + batch_size]).sum())
            for i in range(0, len(x), batch_size)
        )
        return correct / len(x)

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Back-propagated gradients of loss(x, t), keyed like params."""
        self.last_loss = self.loss(x, t)
        self._backward(self.last_layer.backward(1.0), stop=1)  # conv1 skips dx
        grads = {}
        for slot in self.slots:
            for attr, key in slot.params.items():
                grads[key] = getattr(slot.layer, "d" + attr)
        return grads

    def _class_backward(self, x: np.ndarray, class_index: int, stop: int) -> tuple:
        """Forward in test mode, then backprop the summed class logit down to slot `stop`."""
        logits = self._forward(x, train_flg=False)
        dout = np.zeros_like(logits)
        dout[:, class_index] = 1
        return logits, self._backward(dout, stop)

    def input_gradient(self, x: np.ndarray, class_index: int = 1) -> np.ndarray:
        """d logit[class_index] / d x, (N, C, H, W): the saliency map."""
        first_conv = self.slots[1].layer
        first_conv.input_grad = True
        try:
            return self._class_backward(x, class_index, 0)[1]
        finally:
            first_conv.input_grad = False

    def conv_feature_slots(self) -> list[int]:
        """Slot index of the ReLU output of every conv layer (the Grad-CAM feature maps)."""
        return [
            i for i, s in enumerate(self.slots) if s.name.startswith("Relu")
            and int(s.name[4:]) <= len(self.config.channels)
        ]

    def feature_map_and_gradient(
        self, x: np.ndarray, class_index: int = 1, layer: int = -1
    ) -> tuple[np.ndarray, np.ndarray]:
        """(feature map A, d logit[class_index] / d A), both (N, C, H, W), for conv layer `layer`
        (after its ReLU; -1 = last conv), as Grad-CAM needs."""
        index = self.conv_feature_slots()[layer]
        feature = self._forward(x, train_flg=False, stop=index + 1)
        grad = self._class_backward(x, class_index, index + 1)[1]
        return feature.transpose(0, 3, 1, 2), grad.transpose(0, 3, 1, 2)

    # ---- description --------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """One row per layer: name, output shape (C, H, W order for maps) and parameter count."""
        x = np.zeros((1, *self.config.input_dim), self.dtype)
        rows = []
        for i, slot in enumerate(self.slots):
            x = self._forward(x, train_flg=False, start=i, stop=i + 1)
            if i == 0:  # the layout change is an implementation detail
                continue
            shape = (x.shape[3], x.shape[1], x.shape[2]) if x.ndim == 4 else x.shape[1:]
            n_params = sum(self.params[k].size for k in slot.params.values())
            rows.append({"layer": slot.name, "output shape": shape, "parameters": n_params})
        rows.append({"layer": "SoftmaxWithLoss", "output shape": x.shape[1:], "parameters": 0})
        return pd.DataFrame(rows)

    # ---- weight files -------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Parameters and BatchNorm buffers: everything a weight file holds."""
        return {**self.params, **self.buffers}

    def save_params(self, path: str | os.PathLike, extra_metadata: dict | None = None) -> Path:
        """Atomic .npz: arrays + config JSON (+ optional metadata JSON), no pickles."""
        arrays = dict(self.state_arrays())
        arrays[CONFIG_KEY] = _json_array(self.config.to_json())
        if extra_metadata is not None:
            arrays[META_KEY] = _json_array(json.dumps(extra_metadata, sort_keys=True))
        return save_npz_atomic(path, arrays)

    def load_params(self, path: str | os.PathLike) -> dict | None:
        """Load weights after checking names, shapes, dtypes and finiteness; returns the
        file's extra metadata (or None). Raises WeightsError on any problem."""
        expected = self.state_arrays()
        arrays = read_npz(path, {k: (v.shape, v.dtype) for k, v in expected.items()})
        for key, value in arrays.items():
            np.copyto(expected[key], value)  # in place: layers and optimisers keep their views
        return _read_json_member(path, META_KEY)


def build_network(config: NetworkConfig) -> DeepConvNet:
    return DeepConvNet(config=config)


def load_network(path: str | os.PathLike) -> DeepConvNet:
    """Rebuild the network from the config stored in a weight file, then load its weights."""
    text = _read_json_member(path, CONFIG_KEY, raw=True)
    if text is None:
        raise WeightsError(f"{path}: no {CONFIG_KEY} entry; cannot tell which architecture it is")
    try:
        config = NetworkConfig.from_json(text)
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: invalid network config: {exc}") from exc
    network = build_network(config)
    network.load_params(path)
    return network


# ---- .npz helpers (also used by train.py checkpoints) ---------------------------------------
def _json_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def save_npz_atomic(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """np.savez into a temp file in the same folder, then os.replace: never half written."""
    path = Path(path)
    with atomic_write(path) as fh:
        np.savez(fh, **arrays)
    return path


def _open_npz(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise WeightsError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path}: file is empty")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        problem = f"not a .npz archive (truncated or wrong format): {exc}"
        raise WeightsError(f"{path}: {problem}") from exc


def _read_member(zf: zipfile.ZipFile, path: Path, key: str, expect=None) -> np.ndarray:
    """Read one .npy member, checking its header (shape/dtype) before reading any data."""
    try:
        with zf.open(key + ".npy") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            if dtype.hasobject:
                raise WeightsError(f"{path}: entry {key!r} holds Python objects; refusing to load")
            if expect is not None and (shape, dtype) != (tuple(expect[0]), np.dtype(expect[1])):
                raise WeightsError(
                    f"{path}: entry {key!r} is {dtype}{list(shape)}, "
                    f"expected {np.dtype(expect[1])}{list(expect[0])} (wrong architecture?)"
                )
            size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if size > zf.getinfo(key + ".npy").file_size:
                raise WeightsError(f"{path}: entry {key!r} is truncated")
            data = fh.read(size)
    except WeightsError:
        raise
    except Exception as exc:  # any malformed zip member or header
        raise WeightsError(f"{path}: entry {key!r} is corrupt: {exc}") from exc
    if len(data) != size:
        raise WeightsError(f"{path}: entry {key!r} is truncated")
    array = np.frombuffer(data, dtype=dtype)
    array = array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
    return array.copy()  # writable and owning its memory


def read_npz(
    path: str | os.PathLike,
    expected: dict[str, tuple] | None = None,
    extra_ok: tuple[str, ...] = (CONFIG_KEY, META_KEY),
) -> dict[str, np.ndarray]:
    """Read a .npz without pickles. With `expected` ({name: (shape, dtype)}), the names must
    match exactly (besides `extra_ok`), every array is checked and must be finite.
    Any problem raises WeightsError naming the file."""
    path = Path(path)
    with _open_npz(path) as zf:
        try:
            names = zf.namelist()
        except Exception as exc:
            raise WeightsError(f"{path}: unreadable archive: {exc}") from exc
        bad = [n for n in names if not n.endswith(".npy")]
        if bad:
            raise WeightsError(f"{path}: unexpected non-array entries {bad[:5]}")
        keys = [n[: -len(".npy")] for n in names]
        if expected is None:
            return {k: _read_member(zf, path, k) for k in keys}
        missing = sorted(set(expected) - set(keys))
        unexpected = sorted(set(keys) - set(expected) - set(extra_ok))
        if missing or unexpected:
            raise WeightsError(
                f"{path}: parameter names do not match this network (wrong architecture?): "
                f"missing {missing}, unexpected {unexpected}"
            )
        arrays = {k: _read_member(zf, path, k, expected[k]) for k in expected}
    for key, value in arrays.items():
        if not np.isfinite(value).all():
            raise WeightsError(f"{path}: entry {key!r} contains NaN or inf")
    return arrays


def _read_json_member(path: str | os.PathLike, key: str, raw: bool = False):
    """The JSON stored under `key` (parsed, or the text when raw), or None if absent."""
    path = Path(path)
    with _open_npz(path) as zf:
        if key + ".npy" not in zf.namelist():
            return None
        array = _read_member(zf, path, key)
    if array.dtype != np.uint8 or array.ndim != 1:
        raise WeightsError(f"{path}: entry {key!r} is not a UTF-8 JSON byte string")
    try:
        text = array.tobytes().decode("utf-8")
        parsed = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: entry {key!r} is not valid JSON: {exc}") from exc
    return text if raw else parsed


# ---- gradient checking -------------------------------------------------------------------
def numerical_gradient(f: Callable[[], float], array: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Central differences of f() w.r.t. `array`, perturbing it in place (use float64)."""
    grad = np.zeros_like(array)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-8) -> float:
    """||a - n|| / max(||a|| + ||n||, floor): scale-free and not fooled by single tiny entries.

    The floor matters only for gradients that are exactly zero (a bias followed by BatchNorm):
    there the numerical estimate is pure rounding noise (~1e-11) and a plain ratio would be ~1.
    """
    denom = max(float(np.linalg.norm(analytic) + np.linalg.norm(numeric)), floor)
    return float(np.linalg.norm(analytic - numeric)) / denom


def gradient_check_case(
    seed: int = 0, batchnorm: bool = False, class_weights: tuple[float, float] | None = None
) -> tuple[DeepConvNet, np.ndarray, np.ndarray]:
    """A tiny float64 DeepConvNet (16x16 input, 2-3 channels, dropout off) and a batch for it.

    Biases are drawn at random: with the zero biases of a fresh network, outputs of the pad-2
    convolution that see only padding are exactly 0, ReLU's kink, where the derivative is
    undefined and central differences report 1/2 of it.
    """
    config = NetworkConfig(input_dim=(3, 16, 16), channels=(2, 3, 2, 3, 2, 2), hidden_size=6,
                           dropout_ratio=0.0, dtype="float64", seed=seed, batchnorm=batchnorm,
                           class_weights=class_weights)
    network = build_network(config)
    rng = np.random.default_rng(seed)
    for key, value in network.params.items():
        if key.startswith("b"):
            value[...] = rng.normal(0.0, 0.1, value.shape)
    return network, rng.standard_normal((4, 3, 16, 16)), np.array([0, 1, 1, 0])


def gradient_check(network: DeepConvNet, x: np.ndarray, t: np.ndarray, eps: float = 1e-5) -> dict:
    """Relative error between back-propagated and numerical gradients, per parameter.

    Needs a float64 network without dropout (dropout_ratio=0), since a fresh dropout mask per
    forward pass would make the loss random; BatchNorm runs in training mode, as in gradient().
    """
    if network.dtype != np.float64:
        raise ValueError("gradient_check needs a float64 network (NetworkConfig(dtype='float64'))")
    if any(isinstance(s.layer, Dropout) for s in network.slots):
        raise ValueError("gradient_check needs dropout off (NetworkConfig(dropout_ratio=0))")
    saved = {k: v.copy() for k, v in network.buffers.items()}
    analytic = network.gradient(x, t)
    errors = {}
    for key, param in network.params.items():
        numeric = numerical_gradient(lambda: network.loss(x, t), param, eps)
        errors[key] = relative_error(analytic[key], numeric)
    for key, value in saved.items():  # the many loss() calls moved the BatchNorm running stats
        network.buffers[key][...] = value
    return errors
