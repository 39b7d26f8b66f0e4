"""The disc CNN that learns: a small global-average-pooling CNN (nn/gap_net.py) trained from
scratch on crops around the detected optic disc. Kind "gap_cnn".

Recipe (a reference implementation reached a CV AUC of 0.90 on EyePACS-AIROGS-light with it): a
crop of 112 px of the 512 px image (about two disc diameters) around the disc, resized to 64 px
and standardised per image and channel; 4 blocks of conv3x3 + BatchNorm + ReLU with 16-32-64-128
channels, max pooling after the first three; global average pooling; dropout 0.3; softmax with
label smoothing 0.1; Adam with decoupled weight decay 0.05 on every parameter (PyTorch's AdamW
default, BatchNorm's gamma and beta and the biases included), learning rate 3e-3, batch 32, 2
warm-up epochs then cosine decay; flips, +-15 degree rotations, small zoom and shift,
brightness/contrast jitter; prediction averages the crop and its mirror image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from glaucoma_lib.data.augment import bilinear_sample, photometric
from glaucoma_lib.models.disc import DiscLocation, crop_disc
from glaucoma_lib.models.disc_model import FORMAT_VERSION
from glaucoma_lib.models.limits import Work, check_values, check_work
from glaucoma_lib.nn.gap_net import GapConvNet, GapNetConfig, load_gap_network
from glaucoma_lib.nn.network import CONFIG_KEY
from glaucoma_lib.nn.schedule import WarmupCosine
from glaucoma_lib.nn.train import Trainer
from glaucoma_lib.nn.validate import require_dict, require_fields, require_number
from glaucoma_lib.nn.weight_files import read_json_entry


@dataclass(frozen=True)
class CropAugmenter:
    """Horizontal and vertical flips, rotation, zoom and shift, then brightness and contrast
    jitter, for batches (N, C, H, W) in [0, 1]; geometry by bilinear inverse mapping."""

    max_rotation_deg: float = 15.0
    max_scale: float = 0.1  # zoom factor in [1 - s, 1 + s]
    max_shift: float = 0.06  # fraction of the side
    brightness: float = 0.1
    contrast: float = 0.15

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        n, _, h, w = x.shape
        angle = np.deg2rad(rng.uniform(-self.max_rotation_deg, self.max_rotation_deg, n))
        zoom = rng.uniform(1 - self.max_scale, 1 + self.max_scale, n)
        shift = rng.uniform(-self.max_shift, self.max_shift, (n, 2)) * np.array([h, w])
        fx = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        fy = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        cy, cx = (h - 1) / 2, (w - 1) / 2
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        dy, dx = yy - cy, xx - cx
        cos, sin = (np.cos(angle) / zoom)[:, None, None], (np.sin(angle) / zoom)[:, None, None]
        src_x = (cos * dx + sin * dy) * fx[:, None, None] + cx - shift[:, 1, None, None]
        src_y = (-sin * dx + cos * dy) * fy[:, None, None] + cy - shift[:, 0, None, None]
        return photometric(bilinear_sample(x, src_y, src_x), rng, self.brightness,
                           self.contrast, 0.0)


INT_RANGES = {"crop_size": (8, 2048), "input_size": (8, 256), "pooled_blocks": (0, 8),
              "epochs": (0, 100_000), "warmup": (0, 100_000), "batch_size": (1, 100_000)}
NUMBER_RANGES = {"dropout_ratio": (0.0, 0.999), "smoothing": (0.0, 0.999), "lr": (1e-12, 10.0),
                 "weight_decay": (0.0, 1.0)}
BOOLS = ("augment", "flip_average", "schedule", "standardise", "batchnorm")


@dataclass(frozen=True)
class GapCnnConfig:
    """Every knob of the recipe; stored in run records and in the weight file."""

    crop_size: int = 112  # crop side in pixels of the 512 px image (about two disc diameters)
    input_size: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 128)
    pooled_blocks: int = 3
    dropout_ratio: float = 0.3
    smoothing: float = 0.1
    epochs: int = 20
    warmup: int = 2
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.05
    augment: bool = True
    flip_average: bool = True
    schedule: bool = True  # warm-up then cosine decay; False: the same learning rate throughout
    standardise: bool = True
    batchnorm: bool = True

    def network_config(self, seed: int) -> GapNetConfig:
        return GapNetConfig(self.input_size, tuple(self.channels), self.pooled_blocks,
                            self.dropout_ratio, self.smoothing, seed,
                            standardise=self.standardise, batchnorm=self.batchnorm)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d) -> GapCnnConfig:
        """A stored configuration, every value checked (ValueError names the field)."""
        d = require_fields("config", d, [f.name for f in fields(cls)], INT_RANGES,
                           NUMBER_RANGES, BOOLS)
        if "channels" in d:
            d["channels"] = GapNetConfig(channels=d["channels"], pooled_blocks=0).channels
        return cls(**d)


def crops_for(squares: list[np.ndarray], locs: list[DiscLocation],
              config: GapCnnConfig) -> np.ndarray:
    """Model inputs for 512x512 squares with their detected discs (what predict feeds it)."""
    return np.stack([crop_disc(s, loc, config.crop_size, config.input_size)
                     for s, loc in zip(squares, locs, strict=True)]).astype(np.float32) / 255.0


def gap_work(config: GapNetConfig) -> Work:
    """Per-image cost of a forward pass from the configuration alone."""
    item, side, c = np.dtype(config.dtype).itemsize, config.input_size, 3
    macs, largest = 0, 0
    for i, out_c in enumerate(config.channels, start=1):
        macs += 9 * c * out_c * side * side
        largest = max(largest, (c + out_c) * side * side * item)
        c = out_c
        if i <= config.pooled_blocks:
            side //= 2
    return Work(macs + 2 * c, largest)


@dataclass
class GapCnnModel:
    """A fitted GAP-CNN on disc crops; predict_proba averages the crop and its mirror."""

    config: GapCnnConfig
    network: GapConvNet
    threshold: float = 0.5
    metadata: dict = field(default_factory=dict)
    kind = "gap_cnn"

    def inputs(self, squares: list[np.ndarray], locs: list[DiscLocation]) -> np.ndarray:
        return crops_for(squares, locs, self.config)

    def predict_proba(self, x: np.ndarray, locations=None) -> np.ndarray:
        p = self.network.predict_proba(x)[:, 1]
        if self.config.flip_average:
            p = 0.5 * (p + self.network.predict_proba(np.ascontiguousarray(x[..., ::-1]))[:, 1])
        return p

    def work(self) -> Work:
        return gap_work(self.network.config)

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        header = {"kind": self.kind, "format_version": FORMAT_VERSION,
                  "config": self.config.to_dict(), "threshold": float(self.threshold),
                  "metadata": {**self.metadata, **(extra or {})}}
        return self.network.save_params(path, extra_metadata=header)

    @classmethod
    def load(cls, path: Path, header: dict) -> GapCnnModel:
        """The configuration checked and the stored network compared with it, the work per
        image bounded, before any weight is read; the weights' values checked after."""
        config = GapCnnConfig.from_dict(header.get("config"))
        threshold = require_number("threshold", header.get("threshold"), 0.0, 1.0,
                                   open_low=True, open_high=True)
        require_dict("metadata", header.get("metadata"))
        stored = require_dict(CONFIG_KEY, read_json_entry(path, CONFIG_KEY))
        expected = asdict(config.network_config(0))
        for name in ("input_size", "channels", "pooled_blocks", "standardise", "batchnorm"):
            value = stored.get(name)
            if (list(value) if isinstance(value, list | tuple) else value) != (
                    list(expected[name]) if name == "channels" else expected[name]):
                raise ValueError(f"{CONFIG_KEY}.{name} {value!r} does not match the "
                                 f"config ({expected[name]!r})")
        check_work(gap_work(config.network_config(0)))
        network = load_gap_network(path)
        check_values(network.state_arrays())
        return cls(config, network, threshold, header["metadata"])


def fit_gap_cnn(x: np.ndarray, t: np.ndarray, config: GapCnnConfig, seed: int = 0
                ) -> GapCnnModel:
    """Train on crops x (N, 3, S, S) float32 in [0, 1] with labels t (0/1); the last epoch's
    weights are kept (no validation set, nothing selected)."""
    network = GapConvNet(config.network_config(seed))
    Trainer(network, x, np.asarray(t, np.int64), epochs=config.epochs,
            mini_batch_size=config.batch_size, optimizer="Adam",
            optimizer_param={"lr": config.lr, "weight_decay": config.weight_decay,
                             "decoupled": True, "decay_all": True},
            seed=seed, verbose=False, augment=CropAugmenter() if config.augment else None,
            lr_schedule=(WarmupCosine(config.lr, config.epochs, config.warmup)
                         if config.schedule else None),
            score_train=False).train()
    return GapCnnModel(config, network)
