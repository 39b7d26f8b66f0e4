"""Where is the signal? Each model on the disc crop, an off-disc crop and the whole image, beside
image statistics that cannot see the disc, on every data set, with the same folds.

Folds keep a patient's photographs together where patients are known (G1020, HYGD) and are
stratified at random where they are not (EyePACS-AIROGS-light); intervals resample patients.
The texture model is the study's fixed pipeline (96 px crops at 32 px, C = 0.1, as chosen on
AIROGS by the positive control); nothing here is tuned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
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
from glaucoma_lib.models.image_model import ORIGINAL_RECIPE, fit_image_cnn
from glaucoma_lib.models.image_stats import image_statistics
from glaucoma_lib.models.linear import linear_oof
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
    """The CNN's input images of ``region`` ("disc", "off-disc" or "whole image"), float32
    (N, 3, S, S) in [0, 1]."""
    if region == "whole image":
        return load_images(data.data_dir, data.ids, config.input_size).astype(np.float32) / 255
    crops, _ = load_region_crops(data.data_dir, data.ids, region, config.crop_size,
                                 config.input_size)
    return crops.astype(np.float32) / 255.0


def _cnn_task(x: np.ndarray, t: np.ndarray, train: np.ndarray, test: np.ndarray | None,
              config: GapCnnConfig, seed: int) -> np.ndarray | GapCnnModel:
    """One fold's out-of-fold probabilities, or (test None) the fitted model itself."""
    model = fit_gap_cnn(x[train], t[train], config, seed)
    return model if test is None else model.predict_proba(x[test])


def cnn_study(sets: dict[str, SignalData], regions: dict[str, tuple[str, ...]],
              finals: tuple[str, ...], config: GapCnnConfig, seed: int = 0,
              jobs: int | None = None) -> tuple[dict[str, dict[str, np.ndarray]],
                                                dict[str, GapCnnModel]]:
    """Every CNN training of the study as one batch of tasks, handed out largest training set
    first so that both cores stay busy to the end: the folds of each data set's ``regions``
    ("disc", "off-disc") and the final models (disc crops, every image) of ``finals``. Fold f
    trains with seed 1000 * seed + f and a final model with ``seed``, whatever ``jobs`` is.
    Returns the out-of-fold probabilities by data set and row name ("CNN, disc crop") and the
    finals."""
    inputs = {(name, region): cnn_inputs(sets[name], region, config)
              for name in sets for region in regions.get(name, ())}
    tasks, keys = [], []
    for name in finals:
        x = inputs[(name, "disc")]
        tasks.append((x, sets[name].t, np.arange(len(x)), None, config, seed))
        keys.append((name, "final", None))
    for (name, region), x in inputs.items():
        for f, (train, test) in enumerate(sets[name].folds):
            tasks.append((x, sets[name].t, train, test, config, 1000 * seed + f))
            keys.append((name, region, test))
    order = sorted(range(len(tasks)), key=lambda i: -len(tasks[i][2]))  # longest first
    results = run_tasks(_cnn_task, [tasks[i] for i in order], jobs)
    oofs = {name: {} for name in sets}
    models = {}
    for (name, region, test), result in zip([keys[i] for i in order], results, strict=True):
        if test is None:
            models[name] = result
        else:
            row = oofs[name].setdefault(f"CNN, {region} crop", np.empty(len(sets[name].t)))
            row[test] = result
    return oofs, models


# One ingredient of the recipe taken away at a time, on the same folds (a full build).
ABLATIONS = {
    "without augmentation": {"augment": False},
    "without warm-up and cosine decay": {"schedule": False},
    "without label smoothing": {"smoothing": 0.0},
    "without per-image standardisation": {"standardise": False},
    "without BatchNorm": {"batchnorm": False},
}


def _original_task(images: np.ndarray, t: np.ndarray, train: np.ndarray, test: np.ndarray,
                   seed: int) -> np.ndarray:
    model = fit_image_cnn(images[train], t[train], ORIGINAL_RECIPE, seed)
    return model.predict_proba(images[test].astype(np.float32) / 255.0)


def ablation_oofs(data: SignalData, config: GapCnnConfig, seed: int = 0,
                  jobs: int | None = None) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities of the recipe with one ingredient changed at a time (the
    ABLATIONS, the whole image instead of the disc crop) and of the original study's
    DeepConvNet on the whole image, all on the data set's folds."""
    variants = {f"CNN {name}": ("disc", replace(config, **change))
                for name, change in ABLATIONS.items()}
    variants["CNN on the whole image instead of the disc crop"] = ("whole image", config)
    tasks, keys = [], []
    for name, (region, variant) in variants.items():
        x = cnn_inputs(data, region, variant)
        for f, (train, test) in enumerate(data.folds):
            tasks.append((x, data.t, train, test, variant, 1000 * seed + f))
            keys.append((name, test))
    oofs = {}
    for (name, test), prob in zip(keys, run_tasks(_cnn_task, tasks, jobs), strict=True):
        oofs.setdefault(name, np.empty(len(data.t)))[test] = prob
    images = load_images(data.data_dir, data.ids, ORIGINAL_RECIPE.image_size)
    original = run_tasks(_original_task, [(images, data.t, train, test, 1000 * seed + f)
                                          for f, (train, test) in enumerate(data.folds)], jobs)
    oofs["original DeepConvNet, whole image"] = np.empty(len(data.t))
    for (_, test), prob in zip(data.folds, original, strict=True):
        oofs["original DeepConvNet, whole image"][test] = prob
    return oofs


def ablation_table(data: SignalData, oofs: dict[str, np.ndarray], seed: int = 0
                   ) -> pd.DataFrame:
    """Pooled out-of-fold AUC (95% CI) of each variant; a variant whose training diverged
    (non-finite scores) is named as such instead of scored."""
    rows = []
    for name, oof in oofs.items():
        if np.isfinite(oof).all():
            s = summary(data, oof, seed)
            rows.append({"variant": name, "AUC (95% CI)":
                         f"{s['AUC']:.3f} ({s['low']:.3f}–{s['high']:.3f})", **s})
        else:
            rows.append({"variant": name, "AUC (95% CI)": "diverged (non-finite scores)",
                         "AUC": np.nan, "low": np.nan, "high": np.nan})
    return pd.DataFrame(rows).set_index("variant")


def signal_oofs(data: SignalData, seed: int = 0,
                extra: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Every row of the where-is-the-signal table for one data set: any ``extra`` out-of-fold
    scores first (the CNN's), the texture model on each input, then the image statistics."""
    return {**(extra or {}), **texture_oofs(data, seed),
            "image statistics (no disc)": statistics_oof(data)}


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
