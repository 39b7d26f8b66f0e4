"""Across data sets: each data set's final model scored on the other data sets' photographs.

A model that learned glaucoma should carry some of it to another camera and population; one that
learned its data set's habits (camera, clinic, referral stream) should not. G1020's final models
are trained on its 800 training images, and G1020 is scored on its 220 test images: the only
place the test split is read, once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from glaucoma_lib import metrics
from glaucoma_lib.models.features import RandomKernelFeatures
from glaucoma_lib.models.linear import fit_linear
from glaucoma_lib.models.regions import load_region_crops
from glaucoma_lib.study.signal import TEXTURE_C, TEXTURE_CROP, TEXTURE_SIZE, SignalData

Score = Callable[[SignalData], np.ndarray]


def fit_texture(data: SignalData, seed: int = 0) -> Score:
    """The texture model on disc crops fitted on every image of ``data``; returns a function
    scoring another data set's disc crops."""
    bank = RandomKernelFeatures(seed=seed)

    def features(d: SignalData) -> np.ndarray:
        crops, _ = load_region_crops(d.data_dir, d.ids, "disc", TEXTURE_CROP, TEXTURE_SIZE)
        return bank(crops.astype(np.float32) / 255.0)

    scorer = fit_linear(features(data), data.t, TEXTURE_C)
    return lambda other: scorer.predict_proba(features(other))


def across_table(models: dict[tuple[str, str], Score], targets: dict[str, SignalData],
                 seed: int = 0) -> pd.DataFrame:
    """Rows: model, trained on, scored on, images, AUC with a patient-clustered 95% CI; each
    model on every target but its own data set."""
    rows = []
    for (model, trained_on), score in models.items():
        for name, target in targets.items():
            if name == trained_on:
                continue
            prob = score(target)
            auc, low, high = metrics.cluster_bootstrap_ci(target.t, prob, target.patients,
                                                          seed=seed)
            rows.append({"model": model, "trained on": trained_on, "scored on": name,
                         "images": len(target.t), "AUC": auc, "low": low, "high": high})
    return pd.DataFrame(rows)
