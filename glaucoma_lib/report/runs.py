"""Notebook 05's figures and tables of one reproduction run: the original's plots (accuracy and
loss per epoch), what it lacked (baseline, confusion matrix, ROC with its interval), the
per-epoch tables and the most confident mistakes."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from glaucoma_lib.data.loading import load_images
from glaucoma_lib.report import captions, plots
from glaucoma_lib.study.original import accuracy_table, predictions
from glaucoma_lib.study.records import history_frame, iteration_loss_frame
from glaucoma_lib.study.sentences import final_accuracy_text


def mistakes_figure(record: dict[str, Any], label: str, folder, synthetic: bool, n: int = 18):
    """The n most confident mistakes (true colours), with the run's own pairing when it differs."""
    ids, y_true, y_scored, prob = predictions(record)
    wrong = np.flatnonzero((prob >= 0.5).astype(int) != y_true)
    worst = wrong[np.argsort(-np.abs(prob[wrong] - y_true[wrong]))][:n]
    names = np.array(plots.CLASS_NAMES)
    captions = [
        f"{ids[i]}\ntrue: {names[y_true[i]]}, predicted: {names[int(prob[i] >= 0.5)]}\n"
        f"p(glaucoma) = {prob[i]:.2f}"
        + (f"\n(paired label: {names[y_scored[i]]})" if y_scored[i] != y_true[i] else "")
        for i in worst
    ]
    images = (load_images(folder, list(ids[worst]), 128) if len(worst)
              else np.zeros((0, 3, 128, 128), np.uint8))
    text = (f"{len(wrong)} of {len(ids)} test images misclassified; the {len(worst)} most "
            "confident mistakes are shown (true colours, whatever the run's input pipeline did "
            "to them).")
    fig = plots.plot_image_grid(images, captions, synthetic,
                                title=f"Most confident mistakes: {label}")
    return fig, text


def show_run(record: dict[str, Any], key: str, label: str, synthetic: bool,
             seed: int = 0) -> None:
    """Notebook 05's section for one run: the original's plots (accuracy and loss per epoch),
    then what it lacked (baseline, confusion matrix, ROC with CI); figures saved as
    training_<key> and test_<key>."""
    history = history_frame(record)
    baseline = record["metrics"]["always_healthy_per_epoch"]["test_evaluated"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    plots.plot_accuracy_per_epoch(history[["epoch", "train_acc", "test_acc"]], synthetic,
                                  title=f"Accuracy per epoch: {label}", baseline=baseline,
                                  ax=axes[0])
    plots.plot_loss_per_epoch(record["history"]["train_loss"],
                              record["history"]["iter_per_epoch"], synthetic,
                              title=f"Training loss: {label}", ax=axes[1])
    captions.figure(fig, f"training_{key}",
                    f"Training of the {label}: accuracy per epoch as the run measured it, with "
                    "the always-healthy score of the same images (dashed), and every mini-batch "
                    "loss with the epoch means.")
    print(final_accuracy_text(record))
    _, y_true, _, prob = predictions(record)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    plots.plot_confusion(y_true, (prob >= 0.5).astype(int), synthetic,
                         title=f"Confusion (true labels): {key}", ax=axes[0])
    plots.plot_roc(y_true, prob, synthetic, title=f"ROC (true labels): {key}", label=key,
                   seed=seed, ax=axes[1])
    captions.figure(fig, f"test_{key}",
                    f"The {label} on the test split, against the labels paired by file name: "
                    "confusion matrix at probability 0.5, and ROC curve with its AUC and "
                    "bootstrap 95% interval.")


def show_run_details(record: dict[str, Any], key: str, label: str, folder,
                     synthetic: bool) -> None:
    """The appendix part of a run: the original's per-epoch tables (the per-iteration losses as
    CSV) and the most confident mistakes."""
    captions.table(accuracy_table(record), f"accuracy_{key}",
                   f"Accuracy per epoch (%) of the {label}, beside the always-healthy score of "
                   "the same images.")
    losses = iteration_loss_frame(record)
    spread = losses.drop(columns="mean")
    summary = pd.DataFrame({"mean": losses["mean"], "min": spread.min(axis=1),
                            "max": spread.max(axis=1)}).round(4)
    captions.table(summary, f"loss_{key}",
                   f"Training loss per epoch of the {label}: mean, smallest and largest "
                   "mini-batch loss.", csv=losses.round(4))
    fig, text = mistakes_figure(record, label, folder, synthetic)
    captions.figure(fig, f"misclassified_{key}", text)
