"""Image statistics that cannot see the optic disc: the shortcut baseline.

Colour, brightness and sharpness differ between cameras, clinics and referral streams. If a
logistic regression on these few numbers predicts the label as well as a model shown the disc,
the model's score says nothing about the disc. Statistics are taken inside the field of view.
"""

from __future__ import annotations

import numpy as np

FEATURES = ("mean R", "mean G", "mean B", "spread R", "spread G", "spread B", "brightness",
            "sharpness", "field of view")


def image_statistics(images: np.ndarray, threshold: int = 20) -> np.ndarray:
    """(N, 9) float32 per image (N, 3, H, W) uint8: per-channel mean and standard deviation and
    mean brightness inside the field of view (pixels brighter than ``threshold``), sharpness
    (mean absolute Laplacian of the green channel there), and the field of view's share."""
    x = images.astype(np.float32) / 255.0
    field = images.max(axis=1) > threshold  # (N, H, W)
    count = np.maximum(field.sum(axis=(1, 2)), 1).astype(np.float32)
    mean = (x * field[:, None]).sum(axis=(2, 3)) / count[:, None]
    var = ((x - mean[:, :, None, None]) ** 2 * field[:, None]).sum(axis=(2, 3)) / count[:, None]
    brightness = mean.mean(axis=1, keepdims=True)
    g = x[:, 1]
    lap = np.abs(4 * g[:, 1:-1, 1:-1] - g[:, :-2, 1:-1] - g[:, 2:, 1:-1]
                 - g[:, 1:-1, :-2] - g[:, 1:-1, 2:])
    inner = field[:, 1:-1, 1:-1]
    sharp = (lap * inner).sum(axis=(1, 2)) / np.maximum(inner.sum(axis=(1, 2)), 1)
    share = count / (images.shape[2] * images.shape[3])
    return np.column_stack([mean, np.sqrt(var), brightness, sharp, share]).astype(np.float32)
