"""A small deterministic fundus-like data set, so everything runs without G1020.

Each image is an orange-red retina on black with a yellowish optic disc, a paler cup and dark
vessels radiating from the disc. Glaucoma means a larger cup-to-disc ratio, drawn from
overlapping distributions so the task is learnable but not trivial. As in G1020, neighbouring
image numbers are often photographs of the same eye. The folder has G1020's Kaggle layout plus a
marker file, so results computed on it can always be labelled SYNTHETIC DATA.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from glaucoma_lib.data.datasets import G1020, SYNTHETIC_MARKER
from glaucoma_lib.paths import SYNTHETIC_DIR

N_IMAGES = 200
IMAGE_SIDE = 512
GLAUCOMA_FRACTION = 296 / 1020  # as in G1020
DEFAULT_FOLDER = SYNTHETIC_DIR
GENERATOR_VERSION = 1
N_VESSELS = 7
RENDER_SIDE = 256  # drawn at this size, then upsampled: fundus photos are soft anyway

RETINA_RGB = np.array([0.80, 0.34, 0.13], dtype=np.float32)
DISC_RGB = np.array([1.00, 0.80, 0.45], dtype=np.float32)
CUP_RGB = np.array([1.00, 0.95, 0.80], dtype=np.float32)
VESSEL_DARKENING = np.array([0.45, 0.65, 0.60], dtype=np.float32)


def _marker_text(n_images: int, seed: int) -> str:
    return (
        "SYNTHETIC DATA - NOT FUNDUS PHOTOGRAPHS OF REAL PATIENTS.\n"
        "Made by glaucoma_lib.data.synthetic so the project runs without G1020; results on it say\n"
        "nothing about glaucoma. Get G1020 from Kaggle (glaucoma-datasets, folder G1020).\n"
        f"generator_version={GENERATOR_VERSION} n_images={n_images} seed={seed}\n"
    )


def _eyes(rng: np.random.Generator, n_images: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which eye each image shows, its label, and image numbers with gaps between eyes."""
    sizes = rng.choice([1, 2, 3], size=n_images, p=[0.3, 0.4, 0.3])
    eye_of_image = np.repeat(np.arange(n_images), sizes)[:n_images]
    n_eyes = eye_of_image[-1] + 1
    images_per_eye = np.bincount(eye_of_image, minlength=n_eyes)
    order = rng.permutation(n_eyes)
    n_glaucoma_images = round(n_images * GLAUCOMA_FRACTION)
    glaucoma_eyes = order[np.cumsum(images_per_eye[order]) <= n_glaucoma_images]
    eye_label = np.isin(np.arange(n_eyes), glaucoma_eyes).astype(np.int64)
    new_eye = np.r_[0, np.diff(eye_of_image)]
    gaps = rng.choice([0, 1, 2, 5], size=n_images, p=[0.6, 0.2, 0.15, 0.05])
    steps = np.where(new_eye == 1, 1 + gaps, 1)
    numbers = np.cumsum(steps) - 1
    return eye_of_image, eye_label[eye_of_image], numbers


def _eye_parameters(rng: np.random.Generator, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Shared by every photograph of one eye: disc position and size, cup, vessel tree, texture."""
    n = len(labels)
    side = rng.choice([-1.0, 1.0], size=n)  # left or right eye: disc left or right of centre
    cdr = np.where(labels == 1, rng.normal(0.60, 0.11, n), rng.normal(0.40, 0.10, n))
    eye = {
        "disc_x": side * rng.uniform(0.22, 0.42, n),
        "disc_y": rng.uniform(-0.15, 0.15, n),
        "disc_r": rng.uniform(0.10, 0.15, n),
        "cdr": np.clip(cdr, 0.15, 0.88),
        "vessel_angle": rng.uniform(0, 2 * np.pi, (n, 1))
        + np.linspace(0, 2 * np.pi, N_VESSELS, endpoint=False)
        + rng.normal(0, 0.25, (n, N_VESSELS)),
        "vessel_curl": rng.uniform(-1.6, 1.6, (n, N_VESSELS)),
        "vessel_width": rng.uniform(0.008, 0.016, (n, N_VESSELS)),
        "vessel_length": rng.uniform(0.8, 1.6, (n, N_VESSELS)),
    }
    eye = {key: np.asarray(values, dtype=np.float32) for key, values in eye.items()}
    return eye | {"texture_seed": rng.integers(0, 2**31, n)}


def _smooth_noise(rng: np.random.Generator, side: int, cells: int = 12) -> np.ndarray:
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    smooth = Image.fromarray(coarse, mode="F").resize((side, side), Image.Resampling.BICUBIC)
    return np.asarray(smooth, dtype=np.float32)


def _render(eye: dict[str, float], rng: np.random.Generator, side: int) -> np.ndarray:
    """One photograph as float32 (side, side, 3) in [0, 1]; coordinates run over [-1, 1]."""
    axis = np.linspace(-1.0, 1.0, side, dtype=np.float32)
    y, x = axis[:, None], axis[None, :]
    # the same eye photographed again moves a little
    disc_x, disc_y = eye["disc_x"] + rng.normal(0, 0.02), eye["disc_y"] + rng.normal(0, 0.02)
    px = 2.0 / side

    retina_r = np.hypot(x - rng.normal(0, 0.015), y - rng.normal(0, 0.015))
    radius = rng.uniform(0.90, 0.98)
    retina = np.clip((radius - retina_r) / (2 * px), 0.0, 1.0)
    tilt = rng.uniform(0, 2 * np.pi)
    light = rng.uniform(0.75, 1.15) * (1 - 0.45 * (retina_r / radius) ** 3)
    light = light * (1 + rng.uniform(0.0, 0.25) * (math.cos(tilt) * x + math.sin(tilt) * y))
    texture = 1 + 0.07 * _smooth_noise(np.random.default_rng(eye["texture_seed"]), side)
    image = RETINA_RGB * (light * texture)[..., None]

    dx, dy = x - disc_x, y - disc_y
    r = np.hypot(dx, dy)
    disc = np.clip((eye["disc_r"] - r) / (3 * px), 0.0, 1.0)
    cup = np.clip((eye["cdr"] * eye["disc_r"] - r) / (4 * px), 0.0, 1.0)
    image += (DISC_RGB * light[..., None] * 1.1 - image) * disc[..., None]
    image += (CUP_RGB * light[..., None] * 1.15 - image) * cup[..., None]

    angle = np.arctan2(dy, dx)[None]
    along = eye["vessel_angle"][:, None, None] + eye["vessel_curl"][:, None, None] * r[None]
    off = np.abs((angle - along + np.pi) % (2 * np.pi) - np.pi) * r[None]
    width = eye["vessel_width"][:, None, None] * (1.2 - 0.5 * r[None])
    reach = np.clip((eye["vessel_length"][:, None, None] - r[None]) / 0.2, 0.0, 1.0)
    vessels = (np.exp(-((off / width) ** 2)) * reach).max(axis=0)
    vessels *= np.clip(r / (0.4 * eye["disc_r"]), 0.0, 1.0) * (1 - 0.4 * disc - 0.5 * cup)
    image *= 1 - VESSEL_DARKENING * vessels[..., None]
    return np.clip(image * retina[..., None], 0.0, 1.0)


def _photograph(eye: dict[str, float], rng: np.random.Generator, image_side: int) -> Image.Image:
    drawn = (_render(eye, rng, RENDER_SIDE) * 255).astype(np.uint8)
    image = Image.fromarray(drawn).resize((image_side, image_side), Image.Resampling.BICUBIC)
    noise = rng.standard_normal((image_side, image_side, 3), dtype=np.float32)
    noise *= rng.uniform(2.0, 6.0)
    noise += np.asarray(image)
    return Image.fromarray(np.clip(noise, 0, 255, out=noise).astype(np.uint8))


def _write_set(folder: Path, n_images: int, seed: int, image_side: int) -> None:
    rng = np.random.default_rng(seed)
    eye_of_image, labels, numbers = _eyes(rng, n_images)
    eye_labels = labels[np.r_[0, np.flatnonzero(np.diff(eye_of_image)) + 1]]
    eyes = _eye_parameters(rng, eye_labels)
    ids = [f"image_{number}.jpg" for number in numbers]
    (folder / G1020.images_dir).mkdir(parents=True)
    for image_id, eye in zip(ids, eye_of_image, strict=True):
        params = {key: values[eye] for key, values in eyes.items()}
        _photograph(params, rng, image_side).save(folder / G1020.images_dir / image_id, quality=92)
    frame = pd.DataFrame({G1020.id_column: ids, G1020.label_column: labels})
    frame.to_csv(folder / G1020.labels_file, index=False, lineterminator="\n")
    (folder / SYNTHETIC_MARKER).write_text(_marker_text(n_images, seed))


def make_synthetic(
    folder: str | os.PathLike = DEFAULT_FOLDER,
    n_images: int = N_IMAGES,
    seed: int = 0,
    image_side: int = IMAGE_SIDE,
) -> Path:
    """Write the synthetic set to `folder` (replacing it); built in a temp folder, then renamed."""
    if n_images < 2:
        raise ValueError(f"n_images must be at least 2, got {n_images}")
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.building-"))
    try:
        _write_set(tmp, n_images, seed, image_side)
        tmp.chmod(0o755)
        if folder.exists():
            old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old-"))
            os.replace(folder, old / folder.name)
            os.replace(tmp, folder)
            shutil.rmtree(old)
        else:
            os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _is_complete(folder: Path, n_images: int, seed: int) -> bool:
    marker = folder / SYNTHETIC_MARKER
    if not marker.is_file() or marker.read_text() != _marker_text(n_images, seed):
        return False
    try:
        ids = pd.read_csv(folder / G1020.labels_file)[G1020.id_column]
    except (OSError, ValueError, KeyError):
        return False
    images = folder / G1020.images_dir
    return len(ids) == n_images and all((images / image_id).is_file() for image_id in ids)


def ensure_synthetic(
    folder: str | os.PathLike = DEFAULT_FOLDER, n_images: int = N_IMAGES, seed: int = 0
) -> Path:
    """The synthetic set at `folder`, generated first if it is missing, incomplete or outdated."""
    folder = Path(folder)
    if not _is_complete(folder, n_images, seed):
        make_synthetic(folder, n_images, seed)
    return folder.resolve()
