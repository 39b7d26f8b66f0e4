"""Figures carry the synthetic banner, save atomically, are shown as saved, and accept the
library's array layouts."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from glaucoma_lib.report import captions, plots


@pytest.fixture(autouse=True)
def figures_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("GLAUCOMA_FIGURES_DIR", str(tmp_path / "figs"))
    yield tmp_path / "figs"
    plt.close("all")


def test_data_title_banner():
    assert plots.data_title("ROC", synthetic=True).startswith("SYNTHETIC DATA")
    assert plots.data_title("ROC", synthetic=False) == "ROC"


def test_save_figure_writes_png_atomically(figures_in_tmp):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    assert plots.save_figure(fig, "line") is None  # a notebook cell ending in it shows no path
    path = figures_in_tmp / "line.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in figures_in_tmp.iterdir()) == ["line.png"]


def test_a_captioned_figure_shows_the_saved_png_drawn_once(figures_in_tmp, monkeypatch):
    shown = []
    monkeypatch.setattr(captions, "display", shown.append)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([0, 1])
    captions.figure(fig, "line", "A line.")
    image, caption = shown
    saved = figures_in_tmp / "line.png"
    assert image.data == saved.read_bytes()  # the file itself, not a second drawing
    with Image.open(saved) as png:  # shown at the inline backend's size (figure.dpi)
        assert abs(image.width - png.width * plt.rcParams["figure.dpi"]
                   / plt.rcParams["savefig.dpi"]) <= 1
    assert 'id="fig-line"' in caption.data and not plt.get_fignums()


@pytest.mark.parametrize("bad", ["", "a/b", "x.png"])
def test_save_figure_rejects_paths(bad):
    with pytest.raises(ValueError, match="bare stem"):
        plots.save_figure(plt.figure(), bad)


def test_every_plot_gets_the_banner():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    prob = np.clip(rng.random(60) * 0.7 + 0.2 * y, 0, 1)
    frame = pd.DataFrame({"epoch": [1, 2], "train_acc": [0.6, 0.7], "test_acc": [0.5, 0.6]})
    figs = [
        plots.plot_accuracy_per_epoch(frame, True, baseline=0.7),
        plots.plot_loss_per_epoch(rng.random(32), 16, True),
        plots.plot_confusion(y, (prob > 0.5).astype(int), True),
        plots.plot_roc(y, prob, True, n_boot=50),
        plots.plot_reliability(y, prob, True),
        plots.plot_leakage_permutations(pd.DataFrame({
            "permutation seed": [0, 1], "random fold AUC mean": [0.5, 0.6],
            "blocked fold AUC mean": [0.55, 0.55]}), True, "leakage"),
    ]
    for fig in figs:
        assert fig.axes[0].get_title().startswith("SYNTHETIC DATA — ")
    grid = plots.plot_image_grid(rng.random((3, 3, 8, 8), dtype=np.float32), ["a", "b", "c"], True)
    assert grid._suptitle.get_text().startswith("SYNTHETIC DATA — ")


def test_to_display_image_transposes_chw_and_scales():
    chw = np.zeros((3, 4, 5), np.float32)
    chw[0] = 1.0
    hwc = plots.to_display_image(chw)
    assert hwc.shape == (4, 5, 3)
    assert (hwc[..., 0] == 1).all() and (hwc[..., 1:] == 0).all()
    assert plots.to_display_image(np.full((4, 5, 3), 255, np.uint8)).max() == 1.0


def test_image_grid_handles_empty_and_mismatch():
    plots.plot_image_grid(np.zeros((0, 3, 8, 8)), [], False)
    with pytest.raises(ValueError, match="captions"):
        plots.plot_image_grid(np.zeros((2, 3, 8, 8)), ["one"], False)
