"""Figures for notebooks and report: one style, loud synthetic-data banners, atomic saves.

Every figure is drawn at most PRINT_WIDTH_IN wide with seaborn's "paper" fonts (about 9 pt), so
that printed at the report's text width no text is smaller than 7 pt; legends sit outside the
data."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from glaucoma_lib import metrics
from glaucoma_lib.data.labels import CLASS_NAMES
from glaucoma_lib.nn.atomic import atomic_write
from glaucoma_lib.paths import figures_dir

SYNTHETIC_BANNER = "SYNTHETIC DATA — "


def set_style() -> None:
    """One seaborn look for every figure so report pages read as a set."""
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "figure.autolayout": True})


set_style()


def data_title(text: str, synthetic: bool) -> str:
    """Title that cannot be mistaken for a real result when the data are synthetic."""
    return f"{SYNTHETIC_BANNER}{text}" if synthetic else text


def figure_path(name: str) -> Path:
    """<figures_dir>/<name>.png, for a bare stem like 'roc_fixed'."""
    if not name or Path(name).name != name or name.endswith(".png"):
        raise ValueError(f"figure name must be a bare stem like 'roc_fixed', got {name!r}")
    return figures_dir() / f"{name}.png"


def save_figure(fig: plt.Figure, name: str) -> None:
    """Write figure_path(name) via a temp file + os.replace: never a half-written PNG.

    Returns nothing, so a notebook cell ending in it shows the figure and no file path.
    """
    with atomic_write(figure_path(name)) as fh:
        fig.savefig(fh, format="png", bbox_inches="tight")


def _axes(ax: plt.Axes | None, size: tuple[float, float] = (6, 4)) -> tuple[plt.Figure, plt.Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=size)
        return fig, ax
    return ax.figure, ax


def legend_below(ax: plt.Axes, ncol: int = 1) -> None:
    """The axes' legend under its x label, outside the data, at the figure's text size."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol, frameon=False)


def epoch_axis(ax: plt.Axes) -> None:
    """An x axis of whole epochs: no tick at 2.5."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")


def plot_confusion(
    y: np.ndarray,
    pred: np.ndarray,
    synthetic: bool,
    title: str = "Confusion matrix",
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """Counts with row percentages: rows are the truth, so the diagonal reads as sens/spec."""
    fig, ax = _axes(ax, (4.5, 4))
    cm = metrics.confusion(y, pred)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    labels = np.array([[f"{c}\n({s:.0%})" for c, s in zip(r, p, strict=True)]
                       for r, p in zip(cm, share, strict=True)])
    sns.heatmap(share, annot=labels, fmt="", cmap="Blues", vmin=0, vmax=1, cbar=False,
                xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES, ax=ax)
    ax.set(xlabel="predicted", ylabel="true", title=data_title(title, synthetic))
    return fig


def plot_roc(
    y: np.ndarray,
    score: np.ndarray,
    auc_ci: tuple[float, float, float],
    synthetic: bool,
    title: str = "ROC curve",
    label: str = "model",
    ax: plt.Axes | None = None,
    chance: bool = True,
) -> plt.Figure:
    """ROC with (AUC, CI low, CI high) in the legend, as the caller read them from the run record:
    never recomputed here, so the figure and the tables quote the same interval."""
    fig, ax = _axes(ax, (5, 5))
    fpr, tpr, _ = metrics.roc_curve(y, score)
    auc, low, high = auc_ci
    legend = f"{label}: AUC {auc:.3f} (95% CI {low:.3f}–{high:.3f})"
    ax.step(fpr, tpr, where="post", lw=2, label=legend)
    if chance:
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance")
    ax.set(xlabel="1 − specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01),
           title=data_title(title, synthetic))
    ax.set_aspect("equal")
    legend_below(ax)
    return fig


def plot_reliability(
    y: np.ndarray,
    prob: np.ndarray,
    synthetic: bool,
    title: str = "Reliability diagram",
    n_bins: int = 5,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """Predicted glaucoma probability against the observed fraction in bins of equal count
    (each labelled with its number of images); diagonal = calibrated. Equal-width bins left
    one to three images in the sparse ones, whose observed fraction means nothing."""
    fig, ax = _axes(ax, (4, 4))
    mean_prob, observed, count = metrics.reliability_curve(y, prob, n_bins=n_bins,
                                                           equal_count=True)
    brier = metrics.brier_score(y, prob)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfectly calibrated")
    ax.plot(mean_prob, observed, marker="o",
            label=f"model, {len(count)} bins of equal count (Brier {brier:.3f})")
    for x, o, c in zip(mean_prob, observed, count, strict=True):
        ax.annotate(f"n={int(c)}", (x, o), textcoords="offset points", xytext=(4, -11))
    ax.set(xlabel="predicted probability of glaucoma", ylabel="observed fraction with glaucoma",
           xlim=(0, 1), ylim=(0, 1), title=data_title(title, synthetic))
    ax.set_aspect("equal")
    legend_below(ax)
    return fig


def plot_fold_study(study: dict, synthetic: bool, title: str) -> plt.Figure:
    """Fold AUCs of the model and the baseline under each kind of fold (the leakage study)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, name in enumerate(study):
        folds = study[name]["folds"]
        ax.scatter(np.full(len(folds), i) - 0.1, folds["auc"], color="C0",
                   label="improved model" if i == 0 else None)
        ax.scatter(np.full(len(folds), i) + 0.1, folds["baseline_auc"], color="C1",
                   label="baseline" if i == 0 else None)
    ax.axhline(0.5, color="grey", lw=0.8)
    ax.set(xticks=range(len(study)), xticklabels=[f"{n} folds" for n in study],
           ylabel="fold ROC AUC", title=data_title(title, synthetic))
    legend_below(ax, ncol=2)
    return fig


def plot_leakage_permutations(table: pd.DataFrame, synthetic: bool, title: str) -> plt.Figure:
    """Random-fold mean AUC of each permutation against the one blocked-fold mean."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.scatter(table["permutation seed"], table["random fold AUC mean"], color="C0",
               label="random image-level folds (one point per permutation)")
    ax.axhline(table["blocked fold AUC mean"].iloc[0], color="C1", label="blocked folds")
    ax.axhline(0.5, color="grey", lw=0.8)
    ax.set(xlabel="permutation seed", ylabel="mean fold ROC AUC",
           title=data_title(title, synthetic))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    legend_below(ax, ncol=2)
    return fig


def plot_training_curves(histories: dict[str, pd.DataFrame], synthetic: bool,
                         title: str) -> plt.Figure:
    """Loss and train/validation AUC per epoch, one line per run (label -> history_frame)."""
    fig, axes = plt.subplots(1, 2, figsize=(PRINT_WIDTH_IN, 3.4))
    for i, (label, h) in enumerate(histories.items()):
        colour = f"C{i}"
        axes[0].plot(h["epoch"], h["epoch_loss"], color=colour, label=label)
        axes[1].plot(h["epoch"], h["train_auc"], "--", color=colour)
        axes[1].plot(h["epoch"], h["val_auc"], color=colour)
    axes[0].set(ylabel="mean training loss (class-weighted)", title="Loss")
    axes[1].axhline(0.5, color="grey", lw=0.8)
    axes[1].set(ylabel="ROC AUC", title="AUC per epoch (dashed: training, solid: validation)")
    for ax in axes:
        epoch_axis(ax)
    legend_below(axes[0], ncol=len(histories))
    fig.suptitle(data_title(title, synthetic))
    fig.tight_layout()
    return fig


def plot_cv_folds(tables: dict[str, pd.DataFrame], synthetic: bool, title: str) -> plt.Figure:
    """Fold AUCs (dots) and pooled out-of-fold AUC with its 95% CI (bar) per pipeline, one panel
    per data set, stacked so that the pipeline names stay legible at print width."""
    fig, axes = plt.subplots(len(tables), 1, figsize=(PRINT_WIDTH_IN, 0.6 + sum(
        0.8 + 0.25 * len(t) for t in tables.values())), sharex=True, squeeze=False)
    for ax, (name, table) in zip(axes[:, 0], tables.items(), strict=True):
        for i, (_, row) in enumerate(table.iterrows()):
            folds = [float(a) for a in row["fold AUCs"].split()]
            ax.scatter(folds, np.full(len(folds), i), s=12, color="C0", alpha=0.6)
            ax.errorbar(row["pooled AUC"], i, xerr=[[row["pooled AUC"] - row["pooled CI low"]],
                        [row["pooled CI high"] - row["pooled AUC"]]], fmt="D", color="C3")
        ax.axvline(0.5, color="grey", lw=0.8)
        ax.set(yticks=range(len(table)), title=name, xlim=(0.3, 1.0))
        ax.set_yticklabels(table.index)
        ax.invert_yaxis()
    axes[-1, 0].set_xlabel("ROC AUC")
    fig.suptitle(data_title(title, synthetic))
    fig.tight_layout()
    return fig


def plot_learning_curves(curves: pd.DataFrame, synthetic: bool, title: str) -> plt.Figure:
    """AUC against the number of training images, mean ± sd over random draws, per data set."""
    fig, ax = _axes(None, (6, 3.8))
    for name, c in curves.groupby("data set", sort=False):
        ax.errorbar(c["training images"], c["AUC mean"], yerr=c["AUC sd"], marker="o",
                    capsize=3, label=name)
    ax.axhline(0.5, color="grey", lw=0.8)
    ax.set(xlabel="training images", ylabel="pooled out-of-fold ROC AUC",
           title=data_title(title, synthetic))
    legend_below(ax, ncol=2)
    return fig


def plot_signal(table: pd.DataFrame, synthetic: bool, title: str) -> plt.Figure:
    """Pooled out-of-fold AUC with its 95% CI for every model and input (rows), one panel per
    data set; the grey line is chance."""
    sets = list(dict.fromkeys(table["data set"]))
    rows = list(dict.fromkeys(table["model and input"]))
    fig, axes = plt.subplots(1, len(sets), figsize=(PRINT_WIDTH_IN, 1.3 + 0.25 * len(rows)),
                             sharey=True, squeeze=False)
    for ax, name in zip(axes[0], sets, strict=True):
        part = table[table["data set"] == name].set_index("model and input")
        for i, row in enumerate(rows):
            if row not in part.index:
                continue
            r = part.loc[row]
            ax.errorbar(r["AUC"], i, xerr=[[r["AUC"] - r["low"]], [r["high"] - r["AUC"]]],
                        fmt="o", color="C0" if "disc crop" in row and "off" not in row else "C7",
                        ms=4, capsize=2)
        ax.axvline(0.5, color="grey", lw=0.8)
        ax.set(xlim=(0.3, 1.0), xlabel="ROC AUC", title=name)
    axes[0][0].set(yticks=range(len(rows)))
    axes[0][0].set_yticklabels(rows)
    axes[0][0].invert_yaxis()
    fig.suptitle(data_title(title, synthetic))
    fig.tight_layout()
    return fig


PRINT_WIDTH_IN = 6.85  # the paper's text width on A4 (174 mm)
PRINT_FONT_PT = 8


def paper_signal_figure(signal: dict, rows: dict[str, str], names: dict[str, str],
                        synthetic: bool) -> plt.Figure:
    """The paper's headline figure, drawn at its printed size (full text width, 8 pt text):
    AUC with its 95% interval for each model and input (rows, top to bottom), one panel per
    data set; the CNN on the disc crop in colour, the controls in grey, chance dashed; the
    legend below the panels, outside the data."""
    sets = [k for k in names if k in signal]
    with plt.rc_context({"font.size": PRINT_FONT_PT, "axes.titlesize": PRINT_FONT_PT + 1,
                         "axes.labelsize": PRINT_FONT_PT, "xtick.labelsize": PRINT_FONT_PT,
                         "ytick.labelsize": PRINT_FONT_PT, "legend.fontsize": PRINT_FONT_PT}):
        fig, axes = plt.subplots(1, len(sets), figsize=(PRINT_WIDTH_IN, 2.5), sharey=True,
                                 squeeze=False)
        styles = {"cnn": ("C0", "o", "CNN"), "texture": ("C1", "s", "texture model"),
                  "stats": ("0.35", "D", "image statistics (cannot see the disc)")}
        for ax, key in zip(axes[0], sets, strict=True):
            for i, row in enumerate(rows):
                e = signal[key].get(row)
                if e is None:
                    continue
                colour, marker, _ = styles[row.split("_")[0]]
                filled = row.endswith("disc") and "off" not in row
                ax.errorbar(e["value"], i, xerr=[[e["value"] - e["low"]], [e["high"] - e["value"]]],
                            fmt=marker, color=colour, mfc=colour if filled else "white", ms=4.5,
                            capsize=2, lw=1.2)
            ax.axvline(0.5, color="0.4", lw=0.8, ls="--")
            ax.set(xlim=(0.3, 1.0), xlabel="ROC AUC (95% CI)",
                   title=data_title(names[key], synthetic))
            ax.set_xticks([0.3, 0.5, 0.7, 0.9])
            ax.grid(axis="y", visible=False)
        axes[0][0].set_yticks(range(len(rows)))
        axes[0][0].set_yticklabels(list(rows.values()))
        axes[0][0].invert_yaxis()
        handles = [plt.Line2D([], [], color=c, marker=m, ls="", label=lab)
                   for c, m, lab in styles.values()]
        handles.append(plt.Line2D([], [], color="0.3", marker="o", mfc="white", ls="",
                                  label="open marker: input without the disc or whole image"))
        fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False,
                   bbox_to_anchor=(0.5, -0.02))
        fig.tight_layout(rect=(0, 0.13, 1, 1))
    return fig


def paper_inputs_figure(examples: dict[str, dict], names: dict[str, str],
                        synthetic: bool) -> plt.Figure:
    """What each model sees, at printed size: one photograph per data set with the disc crop
    (solid) and the off-disc crop of the same size (dashed) outlined."""
    from matplotlib.patches import Rectangle  # only this figure draws rectangles

    with plt.rc_context({"font.size": PRINT_FONT_PT, "axes.titlesize": PRINT_FONT_PT + 1,
                         "legend.fontsize": PRINT_FONT_PT}):
        fig, axes = plt.subplots(1, len(examples), figsize=(PRINT_WIDTH_IN, 2.75), squeeze=False)
        for ax, (key, ex) in zip(axes[0], examples.items(), strict=True):
            ax.imshow(ex["image"])
            half = ex["side"] / 2
            for region, style in (("disc", "-"), ("off-disc", "--")):
                x, y = ex[region]
                ax.add_patch(Rectangle((x - half, y - half), ex["side"], ex["side"], fill=False,
                                       ec="#ffe600", lw=1.6, ls=style))
            ax.set_title(data_title(names[key], synthetic))
            ax.set_axis_off()
        handles = [plt.Line2D([], [], color="#c9a800", lw=1.6, ls=style, label=label)
                   for style, label in (("-", "disc crop (CNN input, resized to 64 px)"),
                                        ("--", "off-disc crop of the same size (control)"))]
        fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
