"""GapConvNet: a small all-convolutional network with global average pooling.

Input (3, S, S); each image standardised per channel (can be switched off, as can BatchNorm,
for the ablation); B blocks of conv3x3 (pad 1, no bias) +
BatchNorm + ReLU, 2x2 max pooling after each of the first `pooled_blocks` blocks; global
average pooling; dropout; affine c_B -> 2; softmax cross-entropy with label smoothing. The
global pooling is what keeps it small: the last block's maps are averaged, not flattened, so
the classifier has 2 x c_B weights. It reuses DeepConvNet's machinery (gradient, frozen
explanations, weight files), only its layers differ.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import numpy as np

from glaucoma_lib.nn.conv_layers import Convolution, MaxPooling
from glaucoma_lib.nn.gap_layers import (
    GlobalAveragePooling,
    PerImageStandardize,
    SmoothedSoftmaxWithLoss,
)
from glaucoma_lib.nn.layers import Affine, BatchNormalization, ChannelsLast, Dropout, Relu
from glaucoma_lib.nn.network import (
    CONFIG_KEY,
    DTYPES,
    MAX_PARAMETERS,
    MAX_SIDE,
    MAX_WIDTH,
    DeepConvNet,
    _Slot,
)
from glaucoma_lib.nn.validate import require_bool, require_int, require_number
from glaucoma_lib.nn.weight_files import WeightsError, read_json_entry


@dataclass
class GapNetConfig:
    """Everything needed to rebuild a GapConvNet; saved inside its weight file, every value
    checked so that a stored configuration cannot make the network allocate gigabytes."""

    input_size: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 128)
    pooled_blocks: int = 3  # 2x2 max pooling after each of the first blocks
    dropout_ratio: float = 0.3
    smoothing: float = 0.1
    seed: int = 0
    dtype: str = "float32"
    standardise: bool = True  # each image's channels to zero mean, unit variance
    batchnorm: bool = True  # BatchNorm after every conv (without it, the convs get biases)

    def __post_init__(self):
        self.input_size = require_int("input_size", self.input_size, 8, MAX_SIDE)
        if not isinstance(self.channels, list | tuple) or not 1 <= len(self.channels) <= 8:
            raise ValueError(f"channels must be a list of 1 to 8 integers, got {self.channels!r}")
        self.channels = tuple(require_int(f"channels[{i}]", c, 1, MAX_WIDTH)
                              for i, c in enumerate(self.channels))
        self.pooled_blocks = require_int("pooled_blocks", self.pooled_blocks, 0,
                                         len(self.channels))
        if self.input_size >> self.pooled_blocks < 1:
            raise ValueError(f"input_size {self.input_size} is too small for "
                             f"{self.pooled_blocks} poolings")
        self.dropout_ratio = require_number("dropout_ratio", self.dropout_ratio, 0.0, 1.0,
                                            open_high=True)
        self.smoothing = require_number("smoothing", self.smoothing, 0.0, 1.0, open_high=True)
        self.seed = require_int("seed", self.seed, 0, 2**63 - 1)
        require_bool("standardise", self.standardise)
        require_bool("batchnorm", self.batchnorm)
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.parameter_count() > MAX_PARAMETERS:
            raise ValueError(f"channels give {self.parameter_count():,} parameters, above the "
                             f"limit of {MAX_PARAMETERS:,}")

    def parameter_count(self) -> int:
        widths = (3, *self.channels)
        per_channel = 2 if self.batchnorm else 1  # gamma and beta, or a bias
        convs = sum(9 * a * b + per_channel * b for a, b in zip(widths, widths[1:], strict=False))
        return convs + 2 * self.channels[-1] + 2

    @property
    def input_dim(self) -> tuple[int, int, int]:
        return (3, self.input_size, self.input_size)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


class GapConvNet(DeepConvNet):
    """DeepConvNet's API (params, gradient, predict_proba, frozen, weight files) over the
    global-average-pooling architecture."""

    def __init__(self, config: GapNetConfig | None = None):
        # DeepConvNet.__init__ builds the pair architecture; only its methods are shared
        self.config = cfg = config or GapNetConfig()
        self.dtype = np.dtype(cfg.dtype)
        init_rng, self.dropout_rng = (np.random.default_rng(s)
                                      for s in np.random.SeedSequence(cfg.seed).spawn(2))
        self.params: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.mode_layers: list[Dropout | BatchNormalization] = []
        self.slots = [_Slot("ChannelsLast", ChannelsLast())]
        if cfg.standardise:
            self.slots.append(_Slot("Standardize", PerImageStandardize()))
        self.first_conv = len(self.slots)
        c = 3
        for i, out_c in enumerate(cfg.channels, start=1):
            self.params[f"W{i}"] = self._he((out_c, c, 3, 3), c * 9, init_rng)
            if cfg.batchnorm:  # BatchNorm's beta does a bias's job
                conv = Convolution(None, np.zeros(out_c, self.dtype), 1, 1)
                self.slots.append(_Slot(f"Conv{i}", conv, {"W": f"W{i}"}))
            else:
                self.params[f"b{i}"] = np.zeros(out_c, self.dtype)
                self.slots.append(_Slot(f"Conv{i}", Convolution(None, None, 1, 1),
                                        {"W": f"W{i}", "b": f"b{i}"}))
            self._maybe_batchnorm(i, out_c)
            self.slots.append(_Slot(f"Relu{i}", Relu()))
            if i <= cfg.pooled_blocks:
                self.slots.append(_Slot(f"Pool{i}", MaxPooling(2, 2, 2)))
            c = out_c
        self.slots[self.first_conv].layer.input_grad = False
        self.slots.append(_Slot("GlobalAveragePooling", GlobalAveragePooling()))
        if cfg.dropout_ratio > 0:
            self._add_dropout("Dropout")
        k = len(cfg.channels) + 1
        self.params[f"W{k}"] = self._he((c, 2), c, init_rng)
        self.params[f"b{k}"] = np.zeros(2, self.dtype)
        self.slots.append(_Slot(f"Affine{k}", Affine(None, None), {"W": f"W{k}", "b": f"b{k}"}))
        self.last_layer = SmoothedSoftmaxWithLoss(cfg.smoothing)
        self.last_loss = float("nan")
        self._bind()

    def _he(self, shape: tuple, fan_in: int, rng: np.random.Generator) -> np.ndarray:
        return (np.sqrt(2.0 / fan_in) * rng.standard_normal(shape)).astype(self.dtype)


def load_gap_network(path: str | os.PathLike) -> GapConvNet:
    """Rebuild a GapConvNet from the config stored in its weight file, then load its weights."""
    stored = read_json_entry(path, CONFIG_KEY)
    if not isinstance(stored, dict):
        raise WeightsError(f"{path}: no {CONFIG_KEY} entry; cannot tell which architecture it is")
    try:
        network = GapConvNet(GapNetConfig(**stored))
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: invalid network config: {exc}") from exc
    network.load_params(path)
    return network
