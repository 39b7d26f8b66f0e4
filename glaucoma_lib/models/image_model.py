"""A CNN on the whole (downscaled) photograph: the original DeepConvNet, or the same network with
BatchNorm, per-channel standardised inputs and horizontal flips. Kind "image_cnn".

Used by the positive control, where the grader's label is in the picture, to ask whether the
engine learns at all; its weight file holds the network, the standardisation and the threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from glaucoma_lib.data.images import RESIZE_FILTER
from glaucoma_lib.models.disc_model import FORMAT_VERSION
from glaucoma_lib.models.limits import Work, check_values, check_work, network_work
from glaucoma_lib.nn.network import (
    CONFIG_KEY,
    DeepConvNet,
    NetworkConfig,
    build_network,
    load_network,
)
from glaucoma_lib.nn.train import Trainer
from glaucoma_lib.nn.validate import (
    require_dict,
    require_fields,
    require_number,
    require_numbers,
)
from glaucoma_lib.nn.weight_files import read_json_entry


@dataclass(frozen=True)
class ImageRecipe:
    """How a whole-image CNN is trained; stored in run records and in the weight file."""

    image_size: int = 64
    batchnorm: bool = True
    final_dropout: bool = False
    epochs: int = 25
    batch_size: int = 32
    lr: float = 1e-3
    flips: bool = True
    standardise: bool = True  # per-channel mean/std of the training images

    def network_config(self, seed: int) -> NetworkConfig:
        return NetworkConfig(input_dim=(3, self.image_size, self.image_size),
                             batchnorm=self.batchnorm, final_dropout=self.final_dropout, seed=seed)


# Ranges a stored recipe must respect (inclusive); wider than anything ever trained.
RECIPE_INTS = {"image_size": (8, 1024), "epochs": (0, 100_000), "batch_size": (1, 100_000)}
RECIPE_BOOLS = ("batchnorm", "final_dropout", "flips", "standardise")
STD_RANGE = (1e-4, 1e4)  # per-channel std of images in [0, 1]: fitted ones are 0.05-0.4

ORIGINAL_RECIPE = ImageRecipe(batchnorm=False, final_dropout=True, epochs=20, batch_size=50,
                              flips=False, standardise=False)  # the original study's settings


def horizontal_flips(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror a random half of the batch left-right (left and right eyes are mirror images)."""
    flip = rng.random(len(x)) < 0.5
    out = np.array(x, dtype=np.float32)
    out[flip] = out[flip, :, :, ::-1]
    return out


@dataclass
class ImageCnnModel:
    """DeepConvNet on the whole photograph resized to ``recipe.image_size``."""

    recipe: ImageRecipe
    network: DeepConvNet
    mean: np.ndarray  # (3,) per-channel mean of the training images in [0, 1]
    std: np.ndarray
    threshold: float = 0.5
    metadata: dict = field(default_factory=dict)
    kind = "image_cnn"

    def predict_proba(self, x: np.ndarray, locations: pd.DataFrame | None = None) -> np.ndarray:
        """Glaucoma probability of images (N, 3, S, S) in [0, 1]."""
        z = (x - self.mean[None, :, None, None]) / self.std[None, :, None, None]
        return self.network.predict_proba(z.astype(np.float32))[:, 1]

    def work(self) -> Work:
        side = self.recipe.image_size
        return network_work(self.network.config) + Work(0, 3 * side * side * 4)

    def inputs(self, squares: list[np.ndarray], locs: list | None = None) -> np.ndarray:
        """Model inputs for 512x512 squares, resized as the training images were (the disc
        locations are not needed)."""
        side = self.recipe.image_size
        return np.stack([np.asarray(Image.fromarray(s).resize((side, side), RESIZE_FILTER))
                         for s in squares]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        header = {"kind": self.kind, "format_version": FORMAT_VERSION,
                  "recipe": asdict(self.recipe), "threshold": float(self.threshold),
                  "mean": self.mean.tolist(), "std": self.std.tolist(),
                  "metadata": {**self.metadata, **(extra or {})}}
        return self.network.save_params(path, extra_metadata=header)

    @classmethod
    def load(cls, path: Path, header: dict) -> ImageCnnModel:
        """Every header value checked, and the stored network's input and cost compared with
        the recipe, before any weight is read; a ValueError names the field."""
        threshold = require_number("threshold", header.get("threshold"), 0.0, 1.0,
                                   open_low=True, open_high=True)
        require_dict("metadata", header.get("metadata"))
        recipe = _checked_recipe(header.get("recipe"))
        mean = require_numbers("mean", header.get("mean"), 3)
        std = require_numbers("std", header.get("std"), 3)
        if (mean < 0).any() or (mean > 1).any():
            raise ValueError(f"mean must be 3 numbers in [0, 1], got {mean.tolist()}")
        if (std < STD_RANGE[0]).any() or (std > STD_RANGE[1]).any():
            raise ValueError(f"std must be 3 numbers in [{STD_RANGE[0]:g}, {STD_RANGE[1]:g}], "
                             f"got {std.tolist()}")
        stored = NetworkConfig(**require_dict(CONFIG_KEY, read_json_entry(path, CONFIG_KEY)))
        side = recipe.image_size
        if tuple(stored.input_dim) != (3, side, side):
            raise ValueError(f"{CONFIG_KEY}.input_dim {list(stored.input_dim)} does not match "
                             f"recipe.image_size {side}")
        check_work(network_work(stored) + Work(0, 3 * side * side * 4))
        network = load_network(path)
        check_values(network.state_arrays())
        return cls(recipe, network, mean.astype(np.float32), std.astype(np.float32), threshold,
                   header["metadata"])


def _checked_recipe(d) -> ImageRecipe:
    """A stored ImageRecipe with every value checked; a ValueError names the field."""
    return ImageRecipe(**require_fields("recipe", d, [f.name for f in fields(ImageRecipe)],
                                        RECIPE_INTS, {"lr": (1e-12, 10.0)}, RECIPE_BOOLS))


def fit_image_cnn(x: np.ndarray, t: np.ndarray, recipe: ImageRecipe, seed: int = 0,
                  threshold: float = 0.5) -> ImageCnnModel:
    """Train on uint8 or [0, 1] images (N, 3, S, S) for a fixed number of epochs (no epoch is
    picked on held-out images), class-weighted when the classes are unbalanced."""
    x = _unit(x)
    if recipe.standardise:
        mean, std = x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3)) + 1e-6
    else:
        mean, std = np.zeros(3, np.float32), np.ones(3, np.float32)
    model = ImageCnnModel(recipe, build_network(recipe.network_config(seed)),
                          mean.astype(np.float32), std.astype(np.float32), threshold)
    z = (x - model.mean[None, :, None, None]) / model.std[None, :, None, None]
    Trainer(model.network, z.astype(np.float32), t, epochs=recipe.epochs,
            mini_batch_size=recipe.batch_size, optimizer="Adam",
            optimizer_param={"lr": recipe.lr}, seed=seed, verbose=False,
            augment=horizontal_flips if recipe.flips else None, score_train=False).train()
    return model


def _unit(x: np.ndarray) -> np.ndarray:
    """Images as float32 in [0, 1] (uint8 arrays are divided by 255)."""
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)

