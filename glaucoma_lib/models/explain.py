"""Where does the disc CNN look? Grad-CAM and input-gradient saliency maps, and the cases to show
(report.image_figures.plot_explanations draws them)."""

from __future__ import annotations

import numpy as np

from glaucoma_lib.data.labels import CLASS_NAMES
from glaucoma_lib.models.disc import smooth
from glaucoma_lib.nn.network import DeepConvNet


def grad_cam(network: DeepConvNet, x: np.ndarray, class_index: int = 1) -> np.ndarray:
    """Grad-CAM heat maps (N, H, W) in [0, 1] at the input size: last conv features weighted by
    their average gradient, rectified and upsampled (nearest-neighbour repeat, then smoothed)."""
    feature, grad = network.feature_map_and_gradient(x, class_index)
    weights = grad.mean(axis=(2, 3), keepdims=True)
    cam = np.maximum((weights * feature).sum(axis=1), 0)
    h, w = x.shape[2:]
    factor = h // cam.shape[1]
    cam = smooth(np.repeat(np.repeat(cam, factor, axis=1), factor, axis=2)[:, :h, :w],
                 max(factor // 2, 1))
    peak = cam.max(axis=(1, 2), keepdims=True)
    return np.where(peak > 0, cam / np.maximum(peak, 1e-12), 0).astype(np.float32)


def saliency(network: DeepConvNet, x: np.ndarray, class_index: int = 1) -> np.ndarray:
    """|d logit / d pixel| maxed over colour channels, normalised per image: (N, H, W)."""
    g = np.abs(network.input_gradient(x, class_index)).max(axis=1)
    return g / np.maximum(g.max(axis=(1, 2), keepdims=True), 1e-12)


def confident_cases(y: np.ndarray, prob: np.ndarray, threshold: float,
                    n: int = 4) -> tuple[np.ndarray, list[str]]:
    """Indices of the n most confident correct and n most confident wrong calls, with captions
    short enough for a printed column (image ID added by the caller; which calls are right the
    caller marks, e.g. image_figures.plot_explanations' frames)."""
    pred = (prob >= threshold).astype(int)
    right, wrong = np.flatnonzero(pred == y), np.flatnonzero(pred != y)
    pick = np.r_[right[np.argsort(-np.abs(prob[right] - 0.5))][:n],
                 wrong[np.argsort(-np.abs(prob[wrong] - 0.5))][:n]]
    captions = [f"true {CLASS_NAMES[y[i]]}\np = {prob[i]:.2f}" for i in pick]
    return pick, captions
