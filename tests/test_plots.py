"""Figures carry the synthetic banner, save atomically, are shown as saved, and accept the
library's array layouts."""

import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from glaucoma_lib import metrics
from glaucoma_lib.paths import PROJECT_ROOT
from glaucoma_lib.report import captions, image_figures, plots


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
    figs = [
        plots.plot_confusion(y, (prob > 0.5).astype(int), True),
        plots.plot_roc(y, prob, (0.7, 0.6, 0.8), True),
        plots.plot_reliability(y, prob, True),
        plots.plot_leakage_permutations(pd.DataFrame({
            "permutation seed": [0, 1], "random fold AUC mean": [0.5, 0.6],
            "blocked fold AUC mean": [0.55, 0.55]}), True, "leakage"),
    ]
    for fig in figs:
        assert fig.axes[0].get_title().startswith("SYNTHETIC DATA — ")
    grid = image_figures.plot_image_grid(rng.random((3, 3, 8, 8), dtype=np.float32),
                                         ["a", "b", "c"], True)
    assert grid._suptitle.get_text().startswith("SYNTHETIC DATA — ")


def test_to_display_image_transposes_chw_and_scales():
    chw = np.zeros((3, 4, 5), np.float32)
    chw[0] = 1.0
    hwc = image_figures.to_display_image(chw)
    assert hwc.shape == (4, 5, 3)
    assert (hwc[..., 0] == 1).all() and (hwc[..., 1:] == 0).all()
    assert image_figures.to_display_image(np.full((4, 5, 3), 255, np.uint8)).max() == 1.0


def test_image_grid_handles_empty_and_mismatch():
    image_figures.plot_image_grid(np.zeros((0, 3, 8, 8)), [], False)
    with pytest.raises(ValueError, match="captions"):
        image_figures.plot_image_grid(np.zeros((2, 3, 8, 8)), ["one"], False)


def test_contact_sheet_tiles_every_thumbnail_with_its_circle_and_label():
    thumbs = np.random.default_rng(0).integers(0, 255, (7, 24, 24, 3), dtype=np.uint8)
    table = pd.DataFrame({"x": np.arange(7) * 10.0, "y": 50.0, "radius": 20.0})
    fig = image_figures.plot_contact_sheet(thumbs, table, 0.25, True, "sheet", cols=3,
                                   labels=[f"n{k}" for k in range(7)])
    (ax,) = fig.axes
    sheet = ax.images[0].get_array()
    row = sheet.shape[0] // 3
    top = row - 24  # the label strip above each tile
    assert sheet.shape[1] == 3 * 24 and top > 0
    np.testing.assert_array_equal(sheet[row + top : 2 * row, 24:48], thumbs[4])  # row 1, col 1
    assert (sheet[2 * row :, 24:] == 255).all()  # the two empty places stay white
    (circles,) = ax.collections
    assert len(circles.get_paths()) == 7
    assert [t.get_text() for t in ax.texts] == [f"n{k}" for k in range(7)]
    assert fig.legends == []  # no audit, no marks to explain
    assert fig.get_suptitle() == "SYNTHETIC DATA — sheet"


def _printed_points(fig, size_pt: float) -> float:
    """A font size as printed: figures wider than the text width are shrunk to fit it."""
    return size_pt * min(1.0, plots.PRINT_WIDTH_IN / fig.get_size_inches()[0])


def test_contact_sheet_marks_hits_and_misses_and_says_so_at_a_readable_size():
    thumbs = np.zeros((40, 64, 64, 3), np.uint8)
    table = pd.DataFrame({"x": np.full(40, 100.0), "y": 100.0, "radius": 30.0})
    hits = np.arange(40) % 7 != 3
    fig = image_figures.plot_contact_sheet(thumbs, table, 0.125, False, "sheet",
                                   labels=[str(k) for k in range(40)], hits=hits)
    (ax,) = fig.axes
    edges = ax.collections[0].get_edgecolor()
    green, red = (plt.matplotlib.colors.to_rgba(image_figures.MARK_COLOURS[k])
                  for k in (True, False))
    assert [tuple(e) for e in edges] == [green if h else red for h in hits]
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "on the optic disc (counted by eye)", "missed the disc"]
    assert min(_printed_points(fig, t.get_fontsize()) for t in ax.texts) >= 7


def test_explanations_frame_each_case_right_or_wrong():
    rng = np.random.default_rng(0)
    fig = image_figures.plot_explanations(rng.random((3, 3, 8, 8)), rng.random((3, 8, 8)),
                                  ["a", "b", "c"], False, "maps", correct=[True, False, True])
    colours = [plt.matplotlib.colors.to_hex(ax.spines["top"].get_edgecolor())
               for ax in fig.axes[:3]]
    assert colours == [image_figures.MARK_COLOURS[k] for k in (True, False, True)]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "right at the chosen threshold", "wrong at the chosen threshold"]


def _inside(inner, outer) -> bool:
    return inner.overlaps(outer) and inner.x0 >= outer.x0 and inner.x1 <= outer.x1


def test_roc_and_reliability_legends_sit_outside_the_data():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 220)
    prob = np.clip(rng.random(220) * 0.6 + 0.2 * y, 0, 1)
    fig, axes = plt.subplots(1, 2, figsize=(plots.PRINT_WIDTH_IN, 4))
    plots.plot_roc(y, prob, (0.6, 0.5, 0.7), False, ax=axes[0])
    plots.plot_reliability(y, prob, False, ax=axes[1])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        legend = ax.get_legend().get_window_extent(renderer)
        assert legend.y1 < ax.get_window_extent(renderer).y0  # wholly below the plotting area
        assert min(t.get_fontsize() for t in ax.get_legend().get_texts()) >= 7


def test_reliability_bins_hold_enough_images_to_mean_something():
    """Equal-width bins left 1-3 images at the extremes; equal-count bins hold a fifth each."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 220)
    prob = np.clip(rng.normal(0.45, 0.06, 220), 0, 1)  # most probabilities in a narrow band
    fig = plots.plot_reliability(y, prob, False)
    counts = [int(t.get_text().removeprefix("n=")) for t in fig.axes[0].texts]
    assert len(counts) == 5 and sum(counts) == 220 and min(counts) >= 40


def test_epoch_axes_have_whole_epoch_ticks():
    history = pd.DataFrame({"epoch": np.arange(1, 4), "epoch_loss": np.linspace(0.7, 0.5, 3),
                            "train_auc": np.linspace(0.5, 0.9, 3),
                            "val_auc": np.linspace(0.5, 0.6, 3)})
    fig = plots.plot_training_curves({"seed 0": history, "seed 1": history}, False, "curves")
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = ax.get_xticks()
        assert np.array_equal(ticks, np.round(ticks)) and ax.get_xlabel() == "epoch"


def test_wide_figures_fit_the_print_width():
    """Nothing is drawn wider than the text width, where it would shrink below 7 pt."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"fold AUCs": ["0.6 0.7"] * 2, "pooled AUC": 0.65,
                          "pooled CI low": 0.6, "pooled CI high": 0.7}, index=["a", "b"])
    figs = [image_figures.plot_image_grid(rng.random((12, 3, 8, 8)), ["x"] * 12, False, ncols=6),
            plots.plot_cv_folds({"one": table, "two": table}, False, "cv"),
            image_figures.plot_explanations(rng.random((8, 3, 8, 8)), rng.random((8, 8, 8)),
                                            ["x"] * 8, False, "maps", correct=[True] * 8)]
    for fig in figs:
        assert fig.get_size_inches()[0] <= plots.PRINT_WIDTH_IN + 1e-9


def test_the_roc_legend_quotes_the_recorded_interval_not_a_new_bootstrap():
    """The interval in the legend is the run record's (screening_summary, seed 0), whatever seed
    the build runs with: figure and tables quote one number."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 80)
    prob = np.clip(rng.random(80) * 0.6 + 0.3 * y, 0, 1)
    summary = metrics.screening_summary(y, prob)
    recorded = (summary["auc"], summary["auc_ci_low"], summary["auc_ci_high"])
    fig = plots.plot_roc(y, prob, recorded, False, label="run")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0] == (f"run: AUC {recorded[0]:.3f} (95% CI {recorded[1]:.3f}–"
                         f"{recorded[2]:.3f})")
    other_seed = metrics.bootstrap_ci(y, prob, metrics.roc_auc, seed=1)
    assert f"{other_seed[1]:.3f}–{other_seed[2]:.3f}" not in legend[0]  # the old figure's number


def test_only_the_report_wing_draws():
    """Nothing in data/, models/ or study/ imports matplotlib or glaucoma_lib.report."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import glaucoma_lib.data, glaucoma_lib.models, glaucoma_lib.study\n"
        "for pkg in (glaucoma_lib.data, glaucoma_lib.models, glaucoma_lib.study):\n"
        "    for m in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'matplotlib'\n"
        "             or n.startswith('glaucoma_lib.report')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PROJECT_ROOT)
    assert out.stdout.strip() == "[]"


def test_a_titled_contact_sheet_keeps_the_print_width_when_saved(figures_in_tmp):
    """A title and the marks' legend must not shrink the tiles (autolayout used to)."""
    thumbs = np.zeros((30, 32, 32, 3), np.uint8)
    table = pd.DataFrame({"x": np.full(30, 16.0), "y": 16.0, "radius": 8.0})
    fig = image_figures.plot_contact_sheet(thumbs, table, 1.0, False, "A long title for a sheet of "
                                   "thirty detections of the optic disc", cols=10,
                                   hits=np.arange(30) % 4 > 0)
    plots.save_figure(fig, "sheet")
    with Image.open(figures_in_tmp / "sheet.png") as png:
        assert png.width >= plots.PRINT_WIDTH_IN * plt.rcParams["savefig.dpi"] * 0.98
