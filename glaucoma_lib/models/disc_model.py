"""Models that score optic-disc crops: its configuration, the disc data, the scorers, and the two
model kinds with their weight files.

- ``TextureModel`` (kind "texture"): a fixed bank of random convolution kernels whose pooled
  responses feed a logistic regression. No CNN inside.
- ``DiscCnnModel`` (kind "disc_cnn"): a small BatchNorm CNN, optionally stacked with the
  disc-feature and texture scorers.

Each kind writes and reads its own weight file: a pickle-free .npz whose ``__meta__`` entry holds
``kind``, ``format_version`` and the configuration; ``glaucoma_lib.models.kinds.load_model``
reads any.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from glaucoma_lib.data import split
from glaucoma_lib.data.augment import Augmenter
from glaucoma_lib.data.loading import read_labels
from glaucoma_lib.models.disc import DiscLocation, crop_disc, load_disc_crop_sets
from glaucoma_lib.models.features import (
    FEATURE_NAMES,
    RandomKernelFeatures,
    disc_features,
    pooled_responses,
)
from glaucoma_lib.models.limits import Work, check_values, check_work, network_work, texture_work
from glaucoma_lib.models.linear import LinearScorer
from glaucoma_lib.nn.network import (
    CONFIG_KEY,
    META_KEY,
    DeepConvNet,
    NetworkConfig,
    load_network,
)
from glaucoma_lib.nn.validate import (
    require_bool,
    require_dict,
    require_fields,
    require_number,
    require_numbers,
)
from glaucoma_lib.nn.weight_files import json_entry, read_json_entry, read_npz, save_npz

FORMAT_VERSION = 2
SCORERS = ("cnn", "texture", "stack")
# Ranges a stored configuration must respect (inclusive); wider than anything ever trained.
INT_RANGES = {"crop_size": (8, 2048), "input_size": (8, 256), "hidden_size": (1, 4096),
              "epochs": (0, 100_000), "batch_size": (1, 100_000), "texture_kernels": (1, 10_000),
              "texture_seed": (0, 2**63 - 1)}
NUMBER_RANGES = {"dropout_ratio": (0.0, 0.999), "lr": (1e-12, 10.0), "weight_decay": (0.0, 1.0),
                 "texture_c": (1e-12, 1e6)}
BOOLS = ("augment", "balanced_sampling", "stack_features")
SCORER_BOUND = 1e6  # far beyond any fitted value; larger ones could only overflow the logit


@dataclass(frozen=True)
class DiscModelConfig:
    """Every knob of the disc-crop pipeline; stored in run records and in the weight file."""

    crop_size: int = 96  # disc crop side in pixels of the 512x512 image
    input_size: int = 32  # model input side (the crop is resized to it)
    channels: tuple[int, ...] = (8, 8, 16, 16, 32, 32)
    hidden_size: int = 32
    dropout_ratio: float = 0.3
    epochs: int = 12
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    augment: bool = True
    balanced_sampling: bool = False
    stack_features: bool = False  # combine CNN logit with the disc-feature model
    scorer: str = "texture"  # final probability from: "cnn", "texture" or "stack" (both)
    texture_kernels: int = 150
    texture_c: float = 0.001  # inverse L2 strength of the texture logistic regression
    texture_seed: int = 0  # kernel bank; fit_model sets it to the training seed
    augmenter: Augmenter = field(default_factory=Augmenter)

    def __post_init__(self):
        if self.scorer not in SCORERS:
            raise ValueError(f"scorer must be one of {SCORERS}, got {self.scorer!r}")

    def texture(self) -> RandomKernelFeatures:
        return RandomKernelFeatures(n_kernels=self.texture_kernels, seed=self.texture_seed)

    def network_config(self, pos_weight: float, seed: int) -> NetworkConfig:
        return NetworkConfig(
            input_dim=(3, self.input_size, self.input_size), channels=tuple(self.channels),
            pads=(1,) * len(self.channels), hidden_size=self.hidden_size, batchnorm=True,
            final_dropout=False, dropout_ratio=self.dropout_ratio,
            class_weights=None if self.balanced_sampling else (1.0, float(pos_weight)), seed=seed,
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DiscModelConfig:
        """A stored configuration with every value checked; a ValueError names the field."""
        d = require_fields("config", d, [f.name for f in fields(cls)], INT_RANGES,
                           NUMBER_RANGES, BOOLS)
        if "channels" in d:
            if not isinstance(d["channels"], list):
                raise ValueError(f"config.channels must be a list, got {d['channels']!r}")
            d["channels"] = tuple(d["channels"])
        d["augmenter"] = _augmenter(d.get("augmenter", {}))
        config = cls(**d)
        try:  # the architecture it describes, checked from the shapes alone
            config.network_config(1.0, 0)
        except ValueError as error:
            raise ValueError(f"config: {error}") from None
        return config


def _augmenter(d: dict) -> Augmenter:
    d = require_dict("config.augmenter", d)
    known = {f.name for f in fields(Augmenter)}
    if set(d) - known:
        raise ValueError(f"config.augmenter has unknown fields {sorted(set(d) - known)}")
    for name, value in d.items():
        if name == "flip":
            require_bool("config.augmenter.flip", value)
        else:
            require_number(f"config.augmenter.{name}", value, 0.0, 360.0)
    return Augmenter(**d)


# ---------------------------------------------------------------------------- data


@dataclass
class DiscData:
    """Disc crops (float32 in [0, 1]) with labels, IDs and locations, sorted by image number."""

    x: np.ndarray
    t: np.ndarray
    ids: list[str]
    locations: pd.DataFrame

    def subset(self, idx: np.ndarray) -> DiscData:
        return DiscData(self.x[idx], self.t[idx], [self.ids[i] for i in idx],
                        self.locations.iloc[idx].reset_index(drop=True))

    @classmethod
    def concat(cls, parts: list[DiscData]) -> DiscData:
        return cls(np.concatenate([p.x for p in parts]), np.concatenate([p.t for p in parts]),
                   [i for p in parts for i in p.ids],
                   pd.concat([p.locations for p in parts], ignore_index=True))


def load_disc_data(data_dir: str | Path, config: DiscModelConfig) -> tuple[DiscData, DiscData]:
    """(train, test) of the original 800/220 split, as disc crops at the model's input size."""
    return load_disc_data_sets(data_dir, [config])[0]


def load_disc_data_sets(data_dir: str | Path, configs: list[DiscModelConfig]
                        ) -> list[tuple[DiscData, DiscData]]:
    """load_disc_data for several configs, their crops cut in one pass over the images."""
    labels = read_labels(data_dir)
    ids = labels["imageID"].tolist()  # sorted by image number
    t = labels["binaryLabels"].to_numpy(np.int64)
    n_train = len(split.original_split(ids)[0])
    sizes = [(c.crop_size, c.input_size) for c in configs]
    split_sets = {}  # configs that share a crop size share its arrays
    for size, (crops, table) in zip(sizes, load_disc_crop_sets(data_dir, ids, sizes),
                                    strict=True):
        if size not in split_sets:
            everything = DiscData(crops.astype(np.float32) / 255.0, t, ids, table)
            split_sets[size] = (everything.subset(np.arange(n_train)),
                                everything.subset(np.arange(n_train, len(ids))))
    return [split_sets[size] for size in sizes]


def crops_for(squares: list[np.ndarray], locs: list[DiscLocation],
              config: DiscModelConfig) -> np.ndarray:
    """Model inputs for 512x512 squares with their detected discs (what predict feeds a model)."""
    return np.stack([crop_disc(s, loc, config.crop_size, config.input_size)
                     for s, loc in zip(squares, locs, strict=True)]).astype(np.float32) / 255.0


# ---------------------------------------------------------------------------- the two kinds


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))



def _header(kind: str, config: DiscModelConfig, threshold: float, metadata: dict,
            **scorers: LinearScorer | None) -> dict:
    return {"kind": kind, "format_version": FORMAT_VERSION, "config": config.to_dict(),
            "threshold": float(threshold), "metadata": metadata,
            **{k: None if v is None else v.to_dict() for k, v in scorers.items()}}


@dataclass
class TextureModel:
    """Random-kernel texture features of the crop, scored by a logistic regression."""

    config: DiscModelConfig
    kernels: np.ndarray  # (K, size, size, 3) float32
    dilations: np.ndarray  # (K,) int
    scorer: LinearScorer
    threshold: float = 0.5
    metadata: dict = field(default_factory=dict)
    kind = "texture"

    def features(self, x: np.ndarray) -> np.ndarray:
        return pooled_responses(x, self.kernels, self.dilations)

    def inputs(self, squares: list[np.ndarray], locs: list[DiscLocation]) -> np.ndarray:
        return crops_for(squares, locs, self.config)

    def predict_proba(self, x: np.ndarray, locations: pd.DataFrame | None = None) -> np.ndarray:
        return self.scorer.predict_proba(self.features(x))

    def work(self) -> Work:
        return _texture_work(self.config)

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        header = _header(self.kind, self.config, self.threshold,
                         {**self.metadata, **(extra or {})}, scorer=self.scorer)
        return save_npz(path, {"kernels": self.kernels, "dilations": self.dilations,
                               META_KEY: json_entry(header)})

    @classmethod
    def load(cls, path: Path, header: dict) -> TextureModel:
        """Entries checked against the configuration from their headers, before reading."""
        config, threshold = _checked_header(header)
        k, size = config.texture_kernels, RandomKernelFeatures().size
        check_work(_texture_work(config))
        arrays = read_npz(path, {"kernels": ((k, size, size, 3), np.float32),
                                 "dilations": ((k,), np.int64)}, extra_ok=(META_KEY,))
        widest = (config.input_size - 1) // (size - 1)
        if arrays["dilations"].min() < 1 or arrays["dilations"].max() > widest:
            raise ValueError(f"dilations must be in [1, {widest}] for "
                             f"{config.input_size} px inputs")
        check_values({"kernels": arrays["kernels"]})
        scorer = _scorer(header, "scorer", 3 * k)
        if scorer is None:
            raise ValueError("scorer is missing")
        return cls(config, arrays["kernels"], arrays["dilations"], scorer, threshold,
                   header["metadata"])


@dataclass
class DiscCnnModel:
    """The disc CNN, alone or stacked with the disc-feature and texture scorers."""

    config: DiscModelConfig
    network: DeepConvNet
    threshold: float = 0.5
    metadata: dict = field(default_factory=dict)
    feature_scorer: LinearScorer | None = None
    texture_scorer: LinearScorer | None = None
    stacker: LinearScorer | None = None
    kind = "disc_cnn"

    def inputs(self, squares: list[np.ndarray], locs: list[DiscLocation]) -> np.ndarray:
        return crops_for(squares, locs, self.config)

    def stack_inputs(self, x: np.ndarray, locations: pd.DataFrame) -> np.ndarray:
        """Logits the stacker combines: CNN, then disc features and texture when in use."""
        cols = [_logit(self.network.predict_proba(x)[:, 1])]
        if self.feature_scorer is not None:
            cols.append(self.feature_scorer.logit(disc_features(x, locations)))
        if self.texture_scorer is not None:
            cols.append(self.texture_scorer.logit(self.config.texture()(x)))
        return np.stack(cols, axis=1)

    def predict_proba(self, x: np.ndarray, locations: pd.DataFrame | None = None) -> np.ndarray:
        if self.stacker is None:
            return self.network.predict_proba(x)[:, 1]
        return self.stacker.predict_proba(self.stack_inputs(x, locations))

    def work(self) -> Work:
        return _disc_cnn_work(self.config, self.texture_scorer is not None)

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        header = _header(self.kind, self.config, self.threshold,
                         {**self.metadata, **(extra or {})}, feature_scorer=self.feature_scorer,
                         texture_scorer=self.texture_scorer, stacker=self.stacker)
        return self.network.save_params(path, extra_metadata=header)

    @classmethod
    def load(cls, path: Path, header: dict) -> DiscCnnModel:
        """The configuration and scorers checked, and the stored network's architecture
        compared with the configuration, before any weight is read."""
        config, threshold = _checked_header(header)
        stored = require_dict(CONFIG_KEY, read_json_entry(path, CONFIG_KEY))
        expected = asdict(config.network_config(1.0, 0))
        for name in ("input_dim", "channels", "hidden_size"):
            if stored.get(name) != (list(expected[name]) if name != "hidden_size"
                                    else expected[name]):
                raise ValueError(f"{CONFIG_KEY}.{name} {stored.get(name)!r} does not match "
                                 f"config ({expected[name]!r})")
        scorers = {"feature_scorer": _scorer(header, "feature_scorer", len(FEATURE_NAMES)),
                   "texture_scorer": _scorer(header, "texture_scorer",
                                             3 * config.texture_kernels)}
        n_stacked = 1 + sum(v is not None for v in scorers.values())
        scorers["stacker"] = _scorer(header, "stacker", n_stacked)
        check_work(_disc_cnn_work(config, scorers["texture_scorer"] is not None))
        network = load_network(path)
        check_values(network.state_arrays())
        return cls(config, network, threshold, header["metadata"], **scorers)


def _texture_work(config: DiscModelConfig) -> Work:
    return texture_work(config.texture_kernels, RandomKernelFeatures().size, config.input_size)


def _disc_cnn_work(config: DiscModelConfig, texture: bool) -> Work:
    cnn = network_work(config.network_config(1.0, 0))
    return cnn + _texture_work(config) if texture else cnn


def _checked_header(header: dict) -> tuple[DiscModelConfig, float]:
    """(configuration, threshold) from a model header, every value checked."""
    threshold = require_number("threshold", header.get("threshold"), 0.0, 1.0,
                               open_low=True, open_high=True)
    require_dict("metadata", header.get("metadata"))
    return DiscModelConfig.from_dict(header.get("config")), threshold


def _scorer(header: dict, key: str, n_features: int) -> LinearScorer | None:
    """A stored LinearScorer with arrays of ``n_features`` finite numbers, or None if absent."""
    d = header.get(key)
    if d is None:
        return None
    d = require_dict(key, d)
    mean, scale, coef = (require_numbers(f"{key}.{name}", d.get(name), n_features)
                         for name in ("mean", "scale", "coef"))
    if (scale <= 0).any() or (np.abs([*mean, *scale, *coef]) > SCORER_BOUND).any():
        raise ValueError(f"{key}: scale must be positive and every value within "
                         f"+-{SCORER_BOUND:g}")
    intercept = require_number(f"{key}.intercept", d.get("intercept"), -SCORER_BOUND,
                               SCORER_BOUND)
    return LinearScorer(mean, scale, coef, intercept)


DiscModel = TextureModel | DiscCnnModel
