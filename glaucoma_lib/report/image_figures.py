"""Figures made of photographs: small multiples, explanation maps and contact sheets of disc
detections, drawn at the report's print width. Where the text counts hits and misses, or right
and wrong calls, each tile is marked green or red and a legend says what the colours mean."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import PatchCollection
from matplotlib.patches import Circle, Patch

from glaucoma_lib.report.plots import PRINT_FONT_PT, PRINT_WIDTH_IN, data_title


def to_display_image(image: np.ndarray) -> np.ndarray:
    """CHW (or HWC) float/uint8 image -> HWC float in [0, 1] for imshow, in colour."""
    img = np.asarray(image)
    if img.ndim != 3:
        raise ValueError(f"expected a 3-D image, got shape {img.shape}")
    if img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = img.transpose(1, 2, 0)
    img = img.astype(np.float32)
    if img.max(initial=0.0) > 1.0:
        img = img / 255.0
    img = np.clip(img, 0.0, 1.0)
    return img[..., 0] if img.shape[-1] == 1 else img


def plot_image_grid(
    images: np.ndarray,
    captions: Sequence[str],
    synthetic: bool,
    title: str = "Images",
    ncols: int = 6,
) -> plt.Figure:
    """Small multiples with a caption under each image; an empty set says so instead of failing."""
    n = len(images)
    if len(captions) != n:
        raise ValueError(f"{n} images but {len(captions)} captions")
    if n == 0:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "no images to show", ha="center", va="center")
        ax.set_title(data_title(title, synthetic))
        return fig
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    tile = min(2.1, PRINT_WIDTH_IN / ncols)
    lines = max(str(c).count("\n") + 1 for c in captions)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, figsize=(
        tile * ncols, (tile + 0.17 * lines) * nrows + 0.4))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, cap in zip(axes.ravel(), images, captions, strict=False):
        ax.imshow(to_display_image(img))
        ax.set_title(cap, fontsize=PRINT_FONT_PT - 1)
    fig.suptitle(data_title(title, synthetic))
    return fig


MARK_COLOURS = {True: "#1a9850", False: "#d7191c"}  # green = right / hit, red = wrong / miss


def _mark_legend(fig: plt.Figure, words: tuple[str, str]) -> None:
    """A legend under the figure saying what the green and the red marks mean."""
    fig.legend(handles=[Patch(facecolor="none", edgecolor=MARK_COLOURS[ok], lw=2, label=word)
                        for ok, word in zip((True, False), words, strict=True)],
               loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False,
               fontsize=PRINT_FONT_PT)


def plot_explanations(x: np.ndarray, maps: np.ndarray, captions: Sequence[str], synthetic: bool,
                      title: str, correct: Sequence[bool]) -> plt.Figure:
    """Crops (top row) and the same crops with their heat maps (N, H, W) in [0, 1] overlaid
    (bottom row), one column per case (models.explain makes the maps); each column framed green
    where the final score was right about the case and red where it was wrong."""
    n = max(len(x), 1)
    tile = min(1.9, PRINT_WIDTH_IN / n)
    fig, axes = plt.subplots(2, n, figsize=(tile * n, 2 * tile + 0.9), squeeze=False)
    for ax in axes.ravel():
        ax.set(xticks=[], yticks=[])
        ax.grid(False)
    for i, ok in enumerate(correct):
        axes[0, i].imshow(to_display_image(x[i]))
        axes[1, i].imshow(to_display_image(x[i]))
        axes[1, i].imshow(maps[i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
        axes[0, i].set_title(captions[i], fontsize=PRINT_FONT_PT - 1)
        for ax in axes[:, i]:
            for spine in ax.spines.values():
                spine.set(visible=True, color=MARK_COLOURS[bool(ok)], linewidth=2.5)
    fig.suptitle(data_title(title, synthetic))
    fig.tight_layout()
    _mark_legend(fig, ("right at the chosen threshold", "wrong at the chosen threshold"))
    return fig


def plot_contact_sheet(thumbs: np.ndarray, table: pd.DataFrame, scale: float, synthetic: bool,
                       title: str, cols: int = 20, labels: list[str] | None = None,
                       hits: Sequence[bool] | None = None) -> plt.Figure:
    """Thumbnails (N, h, w, 3) with the detected disc circle (table's x, y, radius times
    `scale`) and an index or label above each, the sheet PRINT_WIDTH_IN wide. With ``hits``
    (a by-eye audit: was the circle on the disc?) each circle and its label are green for a hit
    and red for a miss, with a legend; without, every circle is cyan.

    One image of tiles with a white strip above each for its label, not one axes per thumbnail:
    220 axes took ~10 s to lay out and save, this takes well under one.
    """
    n, h, w, _ = thumbs.shape
    rows = int(np.ceil(n / cols))
    width = PRINT_WIDTH_IN
    tile_in = width / cols
    # label strip tall enough for one line of PRINT_FONT_PT text at the printed tile size
    top, gap = int(np.ceil(h * 1.5 * PRINT_FONT_PT / 72 / tile_in)), w // 32
    tiles = np.full((rows * cols, h + top, w + gap, 3), 255, np.uint8)
    tiles[:n, top:, :w] = thumbs
    sheet = tiles.reshape(rows, cols, h + top, w + gap, 3).transpose(0, 2, 1, 3, 4)
    sheet = sheet.reshape(rows * (h + top), cols * (w + gap), 3)
    fig, ax = plt.subplots(figsize=(width, width * sheet.shape[0] / sheet.shape[1]))
    fig.set_layout_engine("none")  # autolayout would shrink the sheet to fit title and legend
    ax.imshow(sheet, interpolation="nearest")
    ax.axis("off")
    col, row = np.arange(n) % cols * (w + gap), np.arange(n) // cols * (h + top)
    colours = (["cyan"] * n if hits is None else [MARK_COLOURS[bool(k)] for k in hits])
    circles = [Circle((c + x * scale, r + top + y * scale), radius * scale) for c, r, x, y, radius
               in zip(col, row, table["x"], table["y"], table["radius"], strict=False)]
    ax.add_collection(PatchCollection(circles, facecolor="none", edgecolor=colours, lw=1.2),
                      autolim=False)
    for k in range(n):
        ax.text(col[k] + w / 2, row[k] + top - 1, labels[k] if labels else str(k),
                fontsize=PRINT_FONT_PT - 1, ha="center", va="bottom",
                color="black" if hits is None else colours[k],
                fontweight="normal" if hits is None or hits[k] else "bold")
    fig.subplots_adjust(left=0, right=1, top=1, bottom=0)
    fig.suptitle(data_title(title, synthetic), y=1.0, va="bottom")
    if hits is not None:
        _mark_legend(fig, ("on the optic disc (counted by eye)", "missed the disc"))
    return fig
