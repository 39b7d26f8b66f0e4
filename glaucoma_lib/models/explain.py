"""Where does the disc CNN look? Grad-CAM and input-gradient saliency maps, and their figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from glaucoma_lib.models.disc import smooth
from glaucoma_lib.nn.network import DeepConvNet
from glaucoma_lib.report.plots import CLASS_NAMES, data_title, to_display_image


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


def explanation_figure(x: np.ndarray, maps: np.ndarray, captions: list[str], synthetic: bool,
                       title: str):
    """Crops with their heat maps overlaid, one column per case."""
    n = len(x)
    fig, axes = plt.subplots(2, max(n, 1), figsize=(1.9 * max(n, 1), 4.4), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(to_display_image(x[i]))
        axes[1, i].imshow(to_display_image(x[i]))
        axes[1, i].imshow(maps[i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
        axes[0, i].set_title(captions[i], fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(data_title(title, synthetic), fontsize=10)
    fig.tight_layout()
    return fig


def confident_cases(y: np.ndarray, prob: np.ndarray, threshold: float,
                    n: int = 4) -> tuple[np.ndarray, list[str]]:
    """Indices of the n most confident correct and n most confident wrong calls, with captions
    (image ID added by the caller)."""
    pred = (prob >= threshold).astype(int)
    right, wrong = np.flatnonzero(pred == y), np.flatnonzero(pred != y)
    pick = np.r_[right[np.argsort(-np.abs(prob[right] - 0.5))][:n],
                 wrong[np.argsort(-np.abs(prob[wrong] - 0.5))][:n]]
    captions = [f"true {CLASS_NAMES[y[i]]}, p={prob[i]:.2f}\n"
                f"{'correct' if pred[i] == y[i] else 'WRONG'}" for i in pick]
    return pick, captions
