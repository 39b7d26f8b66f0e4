"""DeepConvNet: the original study's CNN, configurable, with safe weight files.

Default architecture (the original, exactly): input (3, 64, 64);
conv16-relu-conv16-relu-pool, conv32-relu-conv32(pad 2)-relu-pool, conv64-relu-conv16-relu-pool,
affine 1024->50, relu, dropout 0.5, affine 50->2, dropout 0.5, softmax-with-loss.
All convolutions are 3x3, stride 1, pad 1 unless said; pooling is 2x2 stride 2; He init.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from glaucoma_lib.nn.conv_layers import Convolution, MaxPooling
from glaucoma_lib.nn.conv_ops import conv_output_size
from glaucoma_lib.nn.layers import (
    Affine,
    BatchNormalization,
    ChannelsLast,
    Dropout,
    Flatten,
    Relu,
    SoftmaxWithLoss,
    clear_caches,
)
from glaucoma_lib.nn.validate import require_bool, require_int, require_number
from glaucoma_lib.nn.weight_files import (
    WeightsError,
    json_entry,
    read_json_entry,
    read_npz,
    save_npz,
)

CONFIG_KEY = "__config__"
META_KEY = "__meta__"
# Refused before anything is allocated (the original network has 0.1 M parameters).
MAX_PARAMETERS = 20_000_000
MAX_WIDTH = 1024
MAX_SIDE = 1024
DTYPES = ("float32", "float64")


def _ints(field: str, values, lo: int, hi: int, length: int | None = None) -> tuple[int, ...]:
    if not isinstance(values, list | tuple) or (length is not None and len(values) != length):
        raise ValueError(f"{field} must be a list of {length or 'some'} integers, got {values!r}")
    return tuple(require_int(f"{field}[{i}]", v, lo, hi) for i, v in enumerate(values))


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
        """Every value checked (types, ranges, size), so a stored config cannot make the network
        allocate gigabytes or fail later: a ValueError names the field."""
        self.input_dim = _ints("input_dim", self.input_dim, 1, MAX_SIDE, 3)
        self.channels = _ints("channels", self.channels, 1, MAX_WIDTH)
        self.pads = _ints("pads", self.pads, 0, 8)
        if len(self.channels) != len(self.pads) or len(self.channels) % 2 or not self.channels:
            raise ValueError("channels and pads need the same, even length (conv pairs + pool)")
        self.hidden_size = require_int("hidden_size", self.hidden_size, 1, 65536)
        self.output_size = require_int("output_size", self.output_size, 1, 1000)
        self.kernel_size = require_int("kernel_size", self.kernel_size, 1, 11)
        self.seed = require_int("seed", self.seed, 0, 2**63 - 1)
        require_bool("batchnorm", self.batchnorm)
        require_bool("final_dropout", self.final_dropout)
        self.dropout_ratio = require_number("dropout_ratio", self.dropout_ratio, 0.0, 1.0,
                                            open_high=True)
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.class_weights is not None:
            if not isinstance(self.class_weights, list | tuple) or len(
                    self.class_weights) != self.output_size:
                raise ValueError(f"class_weights must be {self.output_size} numbers, "
                                 f"got {self.class_weights!r}")
            self.class_weights = tuple(require_number(f"class_weights[{i}]", w, 0.0, 1e6,
                                                      open_low=True)
                                       for i, w in enumerate(self.class_weights))
        count = self.parameter_count()
        if count > MAX_PARAMETERS:
            raise ValueError(f"channels/hidden_size/input_dim give {count:,} parameters, above "
                             f"the limit of {MAX_PARAMETERS:,}")

    def parameter_count(self) -> int:
        """Parameters this configuration builds, from the shapes alone (nothing allocated)."""
        c, h, w = self.input_dim
        k, count = self.kernel_size, 0
        for i, (out_c, pad) in enumerate(zip(self.channels, self.pads, strict=True), start=1):
            count += out_c * c * k * k + out_c + (2 * out_c if self.batchnorm else 0)
            c, h, w = out_c, conv_output_size(h, k, 1, pad), conv_output_size(w, k, 1, pad)
            if i % 2 == 0:
                h, w = conv_output_size(h, 2, 2, 0), conv_output_size(w, 2, 2, 0)
            if h < 1 or w < 1:
                raise ValueError(f"input_dim {self.input_dim} is too small for "
                                 f"{len(self.channels)} conv layers (nothing left after layer {i})")
        count += c * h * w * self.hidden_size + self.hidden_size
        count += 2 * self.hidden_size if self.batchnorm else 0
        return count + self.hidden_size * self.output_size + self.output_size

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

    first_conv = 1  # slot of the first convolution: nothing upstream of it is trained

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
        self.mode_layers: list[Dropout | BatchNormalization] = []  # what frozen() switches

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
        self.slots[self.first_conv].layer.input_grad = False  # nothing upstream to train

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
            self._add_dropout("Dropout1")
        self._add_param(f"W{out}", (cfg.hidden_size, cfg.output_size), cfg.hidden_size, init_rng)
        self.slots.append(
            _Slot(f"Affine{out}", Affine(None, None), {"W": f"W{out}", "b": f"b{out}"})
        )
        if cfg.final_dropout and cfg.dropout_ratio > 0:
            self._add_dropout("Dropout2")
        self.last_layer = SoftmaxWithLoss(cfg.class_weights)
        self.last_loss = float("nan")  # loss of the latest gradient() batch, for the Trainer
        self._bind()

    # ---- construction -------------------------------------------------------------------
    def _add_param(self, name: str, shape: tuple, fan_in: int, rng: np.random.Generator):
        scale = np.sqrt(2.0 / fan_in)  # He initialisation for ReLU networks
        self.params[name] = (scale * rng.standard_normal(shape)).astype(self.dtype)
        width = shape[0] if len(shape) == 4 else shape[1]  # conv W is (FN, C, KH, KW)
        self.params["b" + name[1:]] = np.zeros(width, self.dtype)

    def _add_dropout(self, name: str):
        layer = Dropout(self.config.dropout_ratio, self.dropout_rng)
        self.mode_layers.append(layer)
        self.slots.append(_Slot(name, layer))

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
        self.mode_layers.append(layer)
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
        """Slots start..stop. train_flg=True keeps every cache a backward pass needs; in test
        mode nothing is kept, so a batch's activations are not all held at once, and ReLU and
        pooling skip their masks (inference about 7% faster)."""
        x = np.asarray(x, dtype=self.dtype)
        for slot in self.slots[start:stop]:
            x = slot.layer.forward(x, train_flg)
        return x

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Within it, a training forward (train_flg=True) keeps the caches backward needs but
        computes the test-time function: Dropout scales instead of dropping (no random draw),
        BatchNorm uses its running statistics and leaves them alone. Backward then gives the
        gradients of the network as it predicts (saliency, Grad-CAM)."""
        for layer in self.mode_layers:
            layer.frozen = True
        try:
            yield
        finally:
            for layer in self.mode_layers:
                layer.frozen = False

    def _backward(self, dout: np.ndarray, stop: int = 0) -> np.ndarray | None:
        for slot in reversed(self.slots[stop:]):
            dout = slot.layer.backward(dout)
        return dout

    def clear_caches(self) -> None:
        """Free every layer's forward caches, so no batch's activations outlive its gradients
        (held, they would add to the next evaluation's or forward's peak)."""
        for slot in self.slots:
            clear_caches(slot.layer)
        clear_caches(self.last_layer)

    def predict(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        """Logits (N, output_size). In test mode nothing is kept for a backward pass."""
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
        self._backward(self.last_layer.backward(1.0), stop=self.first_conv)  # conv1: no dx
        self.clear_caches()
        grads = {}
        for slot in self.slots:
            for attr, key in slot.params.items():
                grads[key] = getattr(slot.layer, "d" + attr)
        return grads

    def _class_backward(self, x: np.ndarray, class_index: int, stop: int) -> tuple:
        """Forward as in test mode (frozen), then backprop the summed class logit down to slot
        `stop`."""
        with self.frozen():
            logits = self._forward(x, train_flg=True)
        dout = np.zeros_like(logits)
        dout[:, class_index] = 1
        grad = self._backward(dout, stop)
        self.clear_caches()
        return logits, grad

    def input_gradient(self, x: np.ndarray, class_index: int = 1) -> np.ndarray:
        """d logit[class_index] / d x, (N, C, H, W): the saliency map."""
        first_conv = self.slots[self.first_conv].layer
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

    def set_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy arrays shaped like state_arrays() in place: layers and optimisers keep views."""
        for key, value in self.state_arrays().items():
            np.copyto(value, arrays[key])

    def save_params(self, path: str | os.PathLike, extra_metadata: dict | None = None) -> Path:
        """Atomic .npz: arrays + config JSON (+ optional metadata JSON), no pickles."""
        arrays = dict(self.state_arrays())
        arrays[CONFIG_KEY] = json_entry(asdict(self.config))
        if extra_metadata is not None:
            arrays[META_KEY] = json_entry(extra_metadata)
        return save_npz(path, arrays)

    def load_params(self, path: str | os.PathLike) -> dict | None:
        """Load weights after checking names, shapes, dtypes and finiteness; returns the
        file's extra metadata (or None). Raises WeightsError on any problem."""
        expected = self.state_arrays()
        arrays = read_npz(path, {k: (v.shape, v.dtype) for k, v in expected.items()},
                          extra_ok=(CONFIG_KEY, META_KEY))
        for key, value in arrays.items():
            np.copyto(expected[key], value)  # in place: layers and optimisers keep their views
        return read_json_entry(path, META_KEY)


def build_network(config: NetworkConfig) -> DeepConvNet:
    return DeepConvNet(config=config)


def load_network(path: str | os.PathLike) -> DeepConvNet:
    """Rebuild the network from the config stored in a weight file, then load its weights."""
    stored = read_json_entry(path, CONFIG_KEY)
    if stored is None:
        raise WeightsError(f"{path}: no {CONFIG_KEY} entry; cannot tell which architecture it is")
    try:
        config = NetworkConfig(**stored)
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: invalid network config: {exc}") from exc
    network = build_network(config)
    network.load_params(path)
    return network
