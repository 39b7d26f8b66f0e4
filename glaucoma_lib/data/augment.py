"""On-the-fly data augmentation in NumPy, vectorised over the batch.

With ~800 training images a network memorises them within a few epochs; random flips, small
rotations and shifts, and brightness/contrast/colour jitter show it plausible variants of each
disc (camera exposure and framing vary between visits) so it has to learn what stays constant.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Augmenter:
    """Random transforms for batches (N, C, H, W) of float images in [0, 1].

    Call it as ``augmenter(x, rng)``; returns a new float32 array, ``x`` is left untouched.
    A strength of 0 switches that transform off.
    """

    flip: bool = True
    max_rotation_deg: float = 15.0
    max_shift: float = 0.06  # fraction of the image side
    brightness: float = 0.1  # additive, in [0, 1] units
    contrast: float = 0.15  # multiplicative around the image mean
    color: float = 0.05  # per-channel gain

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        out = geometric(x, rng, self.flip, self.max_rotation_deg, self.max_shift)
        return photometric(out, rng, self.brightness, self.contrast, self.color)

    def to_dict(self) -> dict:
        return asdict(self)


def geometric(x: np.ndarray, rng: np.random.Generator, flip: bool, max_rotation_deg: float,
              max_shift: float) -> np.ndarray:
    """Per-sample flip + rotation + shift by inverse mapping with bilinear sampling.

    Pixels mapped from outside the image are filled with the nearest edge pixel, which for a
    disc crop is retina, so no artificial black corners appear.
    """
    n, _, h, w = x.shape
    angle = np.deg2rad(rng.uniform(-max_rotation_deg, max_rotation_deg, n))
    shift = rng.uniform(-max_shift, max_shift, (n, 2)) * np.array([h, w])
    mirror = np.where(rng.random(n) < 0.5, -1.0, 1.0) if flip else np.ones(n)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    src_x = (cos * dx + sin * dy) * mirror[:, None, None] + cx - shift[:, 1, None, None]
    src_y = (-sin * dx + cos * dy) + cy - shift[:, 0, None, None]
    return bilinear_sample(x, src_y, src_x)


def bilinear_sample(x: np.ndarray, src_y: np.ndarray, src_x: np.ndarray) -> np.ndarray:
    """Sample x (N, C, H, W) at float coordinates (N, H, W), clamped to the border."""
    n, _, h, w = x.shape
    src_y = np.clip(src_y, 0, h - 1)
    src_x = np.clip(src_x, 0, w - 1)
    y0 = np.floor(src_y).astype(np.int64)
    x0 = np.floor(src_x).astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy = (src_y - y0).astype(np.float32)[:, None]
    wx = (src_x - x0).astype(np.float32)[:, None]
    b = np.arange(n)[:, None, None]

    def at(yi: np.ndarray, xi: np.ndarray) -> np.ndarray:
        return x[b, :, yi, xi].transpose(0, 3, 1, 2)

    top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


def photometric(x: np.ndarray, rng: np.random.Generator, brightness: float, contrast: float,
                color: float) -> np.ndarray:
    """Brightness shift, contrast scaling around each image's mean, per-channel colour gain."""
    n, c = x.shape[:2]
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    scale = (1 + rng.uniform(-contrast, contrast, (n, 1, 1, 1))).astype(np.float32)
    gain = (1 + rng.uniform(-color, color, (n, c, 1, 1))).astype(np.float32)
    offset = rng.uniform(-brightness, brightness, (n, 1, 1, 1)).astype(np.float32)
    return np.clip(((x - mean) * scale + mean) * gain + offset, 0, 1).astype(np.float32)
