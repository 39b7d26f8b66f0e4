"""G1020's own clinical signs and labels: how much of the label is in the disc its graders outlined,
and do the models' scores change when the doubtful healthy labels are set aside?

The vertical cup-to-disc ratio (vCDR) from the graders' outlines is the textbook sign of
glaucomatous cupping. The label sensitivity analysis only reports; it never selects a model.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from glaucoma_lib import metrics
from glaucoma_lib.data.annotations import read_annotations, vcdr_score
from glaucoma_lib.data.patients import patient_table

# Healthy-labelled groups whose label a reader may doubt, by the release's detailed label or
# the keyword note from its clinical diagnosis text.
DOUBTFUL = {
    "glaucoma suspects (detailed label 0c)": ("detailedLabels", "0c"),
    "former glaucoma (detailed label 0b)": ("detailedLabels", "0b"),
    "glaucoma ruled out despite a cupped disc": ("diagnosis_note",
                                                 "glaucoma ruled out despite cupped disc"),
}


def vcdr_rows(data_dir: str | os.PathLike, ids: list[str], t: np.ndarray,
              patients: np.ndarray | None, part: str, seed: int = 0) -> list[dict]:
    """AUC of the graders' vCDR against the labels on the annotated images among ``ids``, two
    ways: an image annotated without a cup outline scored 0 (no visible cup), or set aside."""
    annotations = read_annotations(data_dir)
    if annotations is None:
        return []
    rows = []
    for handling, no_cup in (("no cup outline scored 0", 0.0), ("no cup outline set aside", None)):
        score = vcdr_score(annotations, ids, no_cup)
        keep = ~np.isnan(score)
        groups = None if patients is None else patients[keep]
        auc, low, high = metrics.cluster_bootstrap_ci(t[keep], score[keep], groups, seed=seed)
        rows.append({"images": part, "handling": handling, "annotated": int(keep.sum()),
                     "glaucoma": int(t[keep].sum()), "AUC": auc, "low": low, "high": high})
    return rows


def doubtful_masks(data_dir: str | os.PathLike, ids: list[str]) -> dict[str, np.ndarray]:
    """For each doubtful group, which of ``ids`` belong to it; and all three together."""
    table = patient_table(data_dir)
    if table is None or not set(c for c, _ in DOUBTFUL.values()) <= set(table.columns):
        return {}
    table = table.set_index("imageID").loc[ids]
    masks = {name: (table[column] == value).to_numpy() for name, (column, value) in
             DOUBTFUL.items()}
    masks["all three"] = np.logical_or.reduce(list(masks.values()))
    return masks


def label_sensitivity(data_dir: str | os.PathLike, ids: list[str], t: np.ndarray,
                      patients: np.ndarray | None, scores: dict[str, np.ndarray],
                      seed: int = 0) -> pd.DataFrame:
    """Each model's AUC on all images and with each doubtful group set aside (rows: model,
    images set aside; columns: images left, AUC, low, high)."""
    masks = {"none": np.zeros(len(ids), bool), **doubtful_masks(data_dir, ids)}
    rows = []
    for model, score in scores.items():
        for aside, mask in masks.items():
            keep = ~mask
            groups = None if patients is None else patients[keep]
            auc, low, high = metrics.cluster_bootstrap_ci(t[keep], score[keep], groups,
                                                          seed=seed)
            rows.append({"model": model, "set aside": aside, "images left": int(keep.sum()),
                         "AUC": auc, "low": low, "high": high})
    return pd.DataFrame(rows)
