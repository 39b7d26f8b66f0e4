"""Where is the signal? Each model on the disc crop, an off-disc crop and the whole image, beside
image statistics that cannot see the disc, on every data set, with the same folds.

Folds keep a patient's photographs together where patients are known (G1020, HYGD) and are
stratified at random where they are not (EyePACS-AIROGS-light); intervals resample patients.
The texture model is the study's fixed pipeline (96 px crops at 32 px, C = 0.1, as chosen on
AIROGS by the positive control); nothing here is tuned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from glaucoma_lib import metrics
from glaucoma_lib.data import split
from glaucoma_lib.data.datasets import dataset_of
from glaucoma_lib.data.labels import read_labels
from glaucoma_lib.data.loading import load_images
from glaucoma_lib.data.patients import patient_ids, patient_table
from glaucoma_lib.models.features import RandomKernelFeatures
from glaucoma_lib.models.gap_cnn import GapCnnConfig, GapCnnModel, fit_gap_cnn
from glaucoma_lib.models.image_stats import image_statistics
from glaucoma_lib.models.linear import fit_linear
from glaucoma_lib.models.regions import load_region_crops
from glaucoma_lib.tasks import run_tasks

TEXTURE_CROP, TEXTURE_SIZE, TEXTURE_C = 96, 32, 0.1
STATISTICS_C = 1.0
STATISTICS_SIZE = 128
TEXTURE_INPUTS = ("disc crop", "off-disc crop", "whole image")


@dataclass
class SignalData:
    """One data set as this study uses it: image IDs, labels, patients (None where the release
    publishes none), the folds, and the data set's own quality score where it has one."""

    name: str
    data_dir: Path
    ids: list[str]
    t: np.ndarray
    patients: np.ndarray | None
    folds: list[tuple[np.ndarray, np.ndarray]]
    quality: np.ndarray | None


def load_signal_data(data_dir: str | os.PathLike, first: int | None = None, k: int = 5,
                     seed: int = 0, every: int = 1) -> SignalData:
    """The first ``first`` images by image number (G1020's 800 training images), every
    ``every``-th (quick runs); patient-grouped stratified folds where patients are known."""
    labels = read_labels(data_dir)
    keep = np.arange(len(labels))[:first][::every]
    ids = [labels["imageID"].iloc[i] for i in keep]
    t = labels["binaryLabels"].to_numpy()[keep]
    patients = patient_ids(data_dir, ids)
    folds = (split.stratified_folds(t, k, seed) if patients is None
             else split.grouped_stratified_folds(t, patients, k, seed))
    table = patient_table(data_dir)
    quality = None
    if table is not None and "quality" in table.columns:
        quality = pd.to_numeric(table.set_index("imageID").loc[ids, "quality"]).to_numpy(float)
    return SignalData(dataset_of(data_dir).name, Path(data_dir), ids, t, patients, folds,
                      quality)


def subset(data: SignalData, index: np.ndarray, name: str | None = None) -> SignalData:
    """Some of a data set's images (e.g. G1020's test split), without folds."""
    index = np.asarray(index)
    return SignalData(name or data.name, data.data_dir, [data.ids[i] for i in index],
                      data.t[index], None if data.patients is None else data.patients[index],
                      [], None if data.quality is None else data.quality[index])


def summary(data: SignalData, oof: np.ndarray, seed: int = 0) -> dict:
    """Pooled out-of-fold AUC with a patient-clustered bootstrap 95% CI."""
    auc, low, high = metrics.cluster_bootstrap_ci(data.t, oof, data.patients, seed=seed)
    return {"AUC": auc, "low": low, "high": high}


def linear_oof(features: np.ndarray, t: np.ndarray, folds: list, c: float) -> np.ndarray:
    """Out-of-fold probabilities of the NumPy logistic regression on fixed features."""
    oof = np.empty(len(t))
    for tr, te in folds:
        oof[te] = fit_linear(features[tr], t[tr], c).predict_proba(features[te])
    return oof


def texture_inputs(data: SignalData) -> dict[str, np.ndarray]:
    """The texture model's three inputs, uint8 (N, 3, 32, 32)."""
    disc, _ = load_region_crops(data.data_dir, data.ids, "disc", TEXTURE_CROP, TEXTURE_SIZE)
    off, _ = load_region_crops(data.data_dir, data.ids, "off-disc", TEXTURE_CROP, TEXTURE_SIZE)
    whole = load_images(data.data_dir, data.ids, TEXTURE_SIZE)
    return dict(zip(TEXTURE_INPUTS, (disc, off, whole), strict=True))


def texture_oofs(data: SignalData, seed: int = 0) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities of the texture model on each input."""
    bank = RandomKernelFeatures(seed=seed)
    return {f"texture, {name}": linear_oof(bank(x.astype(np.float32) / 255.0), data.t,
                                           data.folds, TEXTURE_C)
            for name, x in texture_inputs(data).items()}


def statistics_oof(data: SignalData) -> np.ndarray:
    """Out-of-fold probabilities of a logistic regression on image statistics (and the data
    set's quality score, where it has one)."""
    features = image_statistics(load_images(data.data_dir, data.ids, STATISTICS_SIZE))
    if data.quality is not None:
        features = np.column_stack([features, data.quality])
    return linear_oof(features, data.t, data.folds, STATISTICS_C)


def cnn_inputs(data: SignalData, region: str, config: GapCnnConfig) -> np.ndarray:
    """The CNN's crops of ``region`` ("disc" or "off-disc"), float32 (N, 3, S, S) in [0, 1]."""
    crops, _ = load_region_crops(data.data_dir, data.ids, region, config.crop_size,
                                 config.input_size)
    return crops.astype(np.float32) / 255.0


def _cnn_fold(x: np.ndarray, t: np.ndarray, train: np.ndarray, test: np.ndarray,
              config: GapCnnConfig, seed: int) -> np.ndarray:
    return fit_gap_cnn(x[train], t[train], config, seed).predict_proba(x[test])


def cnn_oof(data: SignalData, region: str, config: GapCnnConfig, seed: int = 0,
            jobs: int | None = None) -> np.ndarray:
    """Out-of-fold probabilities of the CNN on ``region`` crops, one task per fold; fold f
    trains with seed 1000 * seed + f, so the result does not depend on ``jobs``."""
    x = cnn_inputs(data, region, config)
    tasks = [(x, data.t, tr, te, config, 1000 * seed + f)
             for f, (tr, te) in enumerate(data.folds)]
    oof = np.empty(len(data.t))
    for (_, te), prob in zip(data.folds, run_tasks(_cnn_fold, tasks, jobs), strict=True):
        oof[te] = prob
    return oof


def fit_cnn(data: SignalData, config: GapCnnConfig, seed: int = 0) -> GapCnnModel:
    """The CNN on disc crops of every image of ``data`` (a final model)."""
    return fit_gap_cnn(cnn_inputs(data, "disc", config), data.t, config, seed)


def signal_oofs(data: SignalData, seed: int = 0,
                extra: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Every row of the where-is-the-signal table for one data set: the texture model on each
    input, the image statistics, and any ``extra`` out-of-fold scores (the CNN's)."""
    return {**texture_oofs(data, seed), "image statistics (no disc)": statistics_oof(data),
            **(extra or {})}


def signal_table(results: dict[str, tuple[SignalData, dict[str, np.ndarray]]],
                 seed: int = 0) -> pd.DataFrame:
    """Long table: data set, input (row), AUC, low, high, images, patients."""
    rows = []
    for name, (data, oofs) in results.items():
        for row, oof in oofs.items():
            rows.append({"data set": name, "model and input": row, **summary(data, oof, seed),
                         "images": len(data.t),
                         "patients": None if data.patients is None else len(set(data.patients))})
    return pd.DataFrame(rows)


def beats(table: pd.DataFrame, data_set: str, row: str, others: list[str]) -> bool:
    """Whether ``row`` beats every one of ``others`` on ``data_set`` by more than the
    intervals: its interval's lower end lies above each other row's upper end."""
    on = table[table["data set"] == data_set].set_index("model and input")
    return bool(all(on.loc[row, "low"] > on.loc[o, "high"] for o in others))


def blocks_cut_patients(data: SignalData, k: int = 5) -> dict:
    """How contiguous blocks of image numbers (the earlier G1020 folds) cut patients: patients
    with photographs on both sides of some block boundary, and their photographs."""
    if data.patients is None:
        raise ValueError(f"{data.name} publishes no patients")
    fold_of = np.empty(len(data.t), dtype=np.int64)
    for f, (_, te) in enumerate(split.blocked_folds(len(data.t), k)):
        fold_of[te] = f
    frame = pd.DataFrame({"patient": data.patients, "fold": fold_of})
    spread = frame.groupby("patient")["fold"].nunique()
    cut = spread[spread > 1].index
    return {"patients": int(spread.size), "patients cut": int(cut.size),
            "images of cut patients": int(frame["patient"].isin(cut).sum())}
