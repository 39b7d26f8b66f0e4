"""Fixtures shared by the test modules: drawn fundus photographs and coloured frames
without a fundus, tiny disc-model data and
configurations, a tiny weight file, a folder of images, and a private cache folder."""

import os
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from glaucoma_lib.data import cache, split, synthetic
from glaucoma_lib.data.images import read_image
from glaucoma_lib.data.loading import image_path, read_labels
from glaucoma_lib.models.disc_model import DiscCnnModel, DiscData, DiscModelConfig
from glaucoma_lib.nn.network import build_network
from glaucoma_lib.study import control

TINY = DiscModelConfig(input_size=16, channels=(4, 4), hidden_size=8, epochs=2, batch_size=16,
                       scorer="cnn", texture_kernels=12)


def fundus(disc_xy=(370, 250), side=512, radius=36, seed=0) -> np.ndarray:
    """Orange retina on black, a pale disc, dark vessels radiating from it, noise."""
    img = Image.new("RGB", (side, side))
    d = ImageDraw.Draw(img)
    d.ellipse((10, 10, side - 10, side - 10), fill=(200, 85, 30))
    x, y = disc_xy
    for angle in np.linspace(0, 2 * np.pi, 8, endpoint=False):
        d.line((x, y, x + 400 * np.cos(angle), y + 400 * np.sin(angle)), fill=(120, 30, 15),
               width=5)
    d.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(250, 200, 120))
    rng = np.random.default_rng(seed)
    a = np.asarray(img).astype(np.int16) + rng.integers(-8, 9, (side, side, 3))
    a[np.asarray(img).max(axis=2) == 0] = 0
    return np.clip(a, 0, 255).astype(np.uint8)


def red_gradient() -> np.ndarray:
    """Red rising from 150 to 250 along the diagonal, green and blue low: the detector finds a
    confident "disc" in its bright corner (0.83) and the frame is as red as a fundus."""
    t = np.linspace(0.0, 1.0, 512, dtype=np.float32)
    frame = np.full((512, 512, 3), 30, np.uint8)
    frame[..., 0] = np.round(150 + 100 * (t[:, None] + t[None, :]) / 2)
    return frame


def red_noise(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    size = (512, 512)
    return np.stack([rng.integers(150, 251, size), rng.integers(0, 60, size),
                     rng.integers(0, 60, size)], axis=-1).astype(np.uint8)


def red_disc_on_black() -> np.ndarray:
    """A smooth red glow in a round field on black: dark corners, but no vessels."""
    t = np.linspace(-1.0, 1.0, 512, dtype=np.float32)
    r = np.hypot(t[:, None], t[None, :] - 0.3)
    frame = np.zeros((512, 512, 3), np.uint8)
    inside = np.hypot(t[:, None], t[None, :]) < 0.95
    frame[..., 0] = np.where(inside, np.round(150 + 100 * np.clip(1 - r, 0, 1)), 0)
    frame[..., 1:] = np.where(inside, 30, 0)[..., None]
    return frame


def a_fundus() -> np.ndarray:
    """A real photograph when GLAUCOMA_DATA is set (G1020 image_0), else a synthetic one."""
    if os.environ.get("GLAUCOMA_DATA"):
        return read_image(Path(os.environ["GLAUCOMA_DATA"]) / "Images_Square" / "image_0.jpg")
    return synthetic_fundus()


def synthetic_fundus() -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        made = synthetic.make_synthetic(Path(folder) / "syn", n_images=2, image_side=512)
        return read_image(image_path(made, read_labels(made)["imageID"].iloc[0]))


def dimmed(rgb: np.ndarray, factor: float) -> np.ndarray:
    return np.round(rgb.astype(np.float32) * factor).astype(np.uint8)


def disc_data(n=60, side=16, seed=0) -> DiscData:
    """Crops whose centre brightness carries the label, so a model can learn something."""
    rng = np.random.default_rng(seed)
    t = (np.arange(n) % 3 == 0).astype(np.int64)
    x = rng.random((n, 3, side, side)).astype(np.float32) * 0.5
    c = slice(side // 2 - 3, side // 2 + 3)
    x[:, :, c, c] += 0.4 * t[:, None, None, None]
    locs = pd.DataFrame({"imageID": [f"image_{i}.jpg" for i in range(n)], "x": 100.0, "y": 100.0,
                         "radius": 30.0, "confidence": 0.9, "source": "detector"})
    return DiscData(x, t, list(locs["imageID"]), locs)


def planted(n=90, seed=0) -> control.StudyData:
    """Texture features whose first column carries the label at crop 96, noise at crop 160."""
    rng = np.random.default_rng(seed)
    t = (np.arange(n) % 2).astype(np.int64)
    strong = rng.normal(size=(n, 12)).astype(np.float32)
    strong[:, 0] += 2.5 * t
    noise = rng.normal(size=(n, 12)).astype(np.float32)
    images = rng.integers(0, 255, (n, 3, 16, 16), dtype=np.uint8)
    crops = {c: DiscData(np.zeros((n, 3, 8, 8), np.float32), t, [], pd.DataFrame())
             for c in control.TEXTURE_CROPS}
    return control.StudyData("planted", images, t, [f"x_{i}.jpg" for i in range(n)],
                             split.stratified_folds(t, 3, seed), {96: strong, 160: noise}, crops,
                             True, Path("."))


@pytest.fixture
def tiny():
    """A tiny disc-model configuration (CNN scorer, 16 px inputs, two epochs)."""
    return replace(TINY)


@pytest.fixture(scope="session")
def weights(tmp_path_factory):
    """An untrained tiny disc-CNN model file."""
    model = DiscCnnModel(TINY, build_network(TINY.network_config(2.0, 0)), 0.5)
    return model.save(tmp_path_factory.mktemp("w") / "tiny.npz")


@pytest.fixture
def folder(tmp_path):
    """Two drawn photographs (one nested, one non-square PNG), a broken JPEG and a text file."""
    (tmp_path / "sub").mkdir()
    Image.fromarray(fundus((370, 250))).save(tmp_path / "a.jpg")
    Image.fromarray(fundus((130, 300))).resize((800, 600)).save(tmp_path / "sub" / "b.png")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    return tmp_path


@pytest.fixture
def private_cache(monkeypatch, tmp_path):
    """Point the array cache at a fresh folder; returns it."""
    folder = tmp_path / "cache"
    monkeypatch.setattr(cache, "CACHE_DIR", folder)
    return folder
