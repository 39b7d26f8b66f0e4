"""The positive control: do this study's pipelines learn glaucoma when the label is in the picture?

EyePACS-AIROGS-light's labels were given by graders looking at each photograph, so the signal is,
by construction, in the image. The same pipelines (the original whole-image CNN, a whole-image CNN
recipe, the disc-crop texture model) are cross-validated on it and, by the same procedure, on
G1020's 800 training images; then learning curves, and each data set's model on the other.
AIROGS folds are stratified at random (no patient identifiers); G1020 folds are contiguous blocks
of image numbers. Nothing here reads the G1020 test split except the cross-data-set check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from glaucoma_lib import metrics
from glaucoma_lib.data import split
from glaucoma_lib.data.loading import is_synthetic, load_images, load_labelled
from glaucoma_lib.models.disc import load_disc_crop_sets, load_disc_crops
from glaucoma_lib.models.disc_model import DiscData, DiscModelConfig, TextureModel
from glaucoma_lib.models.features import RandomKernelFeatures
from glaucoma_lib.models.image_model import (
    ORIGINAL_RECIPE,
    ImageCnnModel,
    ImageRecipe,
    fit_image_cnn,
)
from glaucoma_lib.models.linear import fit_linear, linear_oof
from glaucoma_lib.tasks import run_tasks

CNN_RECIPES = {
    "original DeepConvNet (whole image, 64 px)": ORIGINAL_RECIPE,
    "DeepConvNet + BatchNorm, flips (whole image, 64 px)": ImageRecipe(),
}
TEXTURE_CROPS = (96, 160)
TEXTURE_CS = (0.001, 0.01, 0.1)
NESTED = "texture, crop and C chosen by inner CV (nested)"
INPUT_SIZE = 32  # disc crops are resized to this, as for G1020's model


def build_recipes(quick: bool, full: bool) -> dict[str, ImageRecipe]:
    """The whole-image CNN recipes a build cross-validates: all of them in a full build
    (`make report FULL=1`, most of its time), one epoch each in a quick pipeline check, none in
    a standard build, whose control is the texture pipelines."""
    if quick:
        return {name: replace(r, epochs=1) for name, r in CNN_RECIPES.items()}
    return dict(CNN_RECIPES) if full else {}


@dataclass
class StudyData:
    """One data set as the control uses it: whole images, labels, IDs, folds, and disc-crop
    texture features per crop size."""

    name: str
    images: np.ndarray  # uint8 (N, 3, 64, 64)
    t: np.ndarray
    ids: list[str]
    folds: list[tuple[np.ndarray, np.ndarray]]
    texture: dict[int, np.ndarray]
    crops: dict[int, DiscData]
    stratified: bool
    data_dir: Path


def load_study_data(data_dir: str | Path, name: str, stratified: bool, seed: int = 0,
                    first: int | None = None, k: int = 5, every: int = 1) -> StudyData:
    """Images, labels, folds and texture features of a data folder: its first ``first`` images
    by image number (e.g. G1020's 800 training images), every ``every``-th (quick runs)."""
    images, t, ids = load_labelled(data_dir, 64)
    keep = np.arange(len(t))[:first][::every]
    images, t, ids = images[keep], t[keep], [ids[i] for i in keep]
    folds = split.stratified_folds(t, k, seed) if stratified else split.blocked_folds(len(t), k)
    crops, texture = {}, {}
    bank = RandomKernelFeatures(seed=seed)
    sets = load_disc_crop_sets(data_dir, ids, [(crop, INPUT_SIZE) for crop in TEXTURE_CROPS])
    for crop, (x, table) in zip(TEXTURE_CROPS, sets, strict=True):
        crops[crop] = DiscData(x.astype(np.float32) / 255.0, t, ids, table)
        texture[crop] = bank(crops[crop].x)
    return StudyData(name, images, t, ids, folds, texture, crops, stratified, Path(data_dir))


# ---------------------------------------------------------------------------- cross-validation


def _cnn_fold(images: np.ndarray, t: np.ndarray, train: np.ndarray, test: np.ndarray,
              recipe: ImageRecipe, seed: int) -> np.ndarray:
    model = fit_image_cnn(images[train], t[train], recipe, seed)
    return model.predict_proba(images[test].astype(np.float32) / 255.0)


def cnn_oof(data: StudyData, recipe: ImageRecipe, seed: int = 0, jobs: int | None = None,
            scheduler: str | None = None) -> np.ndarray:
    """Out-of-fold probabilities of a whole-image CNN recipe; one task per fold."""
    tasks = [(data.images, data.t, tr, te, recipe, seed) for tr, te in data.folds]
    oof = np.empty(len(data.t))
    for (_, te), prob in zip(data.folds, run_tasks(_cnn_fold, tasks, jobs, scheduler),
                             strict=True):
        oof[te] = prob
    return oof


def texture_candidates() -> dict[str, tuple[int, float]]:
    return {f"texture on {crop} px disc crops, C={c:g}": (crop, c)
            for crop in TEXTURE_CROPS for c in TEXTURE_CS}


def nested_texture_oof(data: StudyData, seed: int = 0, inner_k: int = 5) -> tuple[np.ndarray,
                                                                                 list[str]]:
    """The whole texture procedure (choose crop and C by inner CV, then fit) scored on outer
    folds: an honest estimate for the choice itself. Returns (oof, choice per outer fold)."""
    candidates = texture_candidates()
    oof, chosen = np.empty(len(data.t)), []
    for tr, te in data.folds:
        inner = _inner_folds(data, tr, inner_k, seed)
        scores = {name: metrics.roc_auc(data.t[tr], linear_oof(data.texture[crop][tr],
                                                                 data.t[tr], inner, c))
                  for name, (crop, c) in candidates.items()}
        best = max(scores, key=scores.get)
        crop, c = candidates[best]
        oof[te] = fit_linear(data.texture[crop][tr], data.t[tr], c).predict_proba(
            data.texture[crop][te])
        chosen.append(best)
    return oof, chosen


def _inner_folds(data: StudyData, train: np.ndarray, k: int, seed: int) -> list:
    if data.stratified:
        return split.stratified_folds(data.t[train], k, seed)
    return split.blocked_folds(len(train), k)


def summarise(name: str, t: np.ndarray, oof: np.ndarray, folds: list, seed: int = 0) -> dict:
    """Per-fold AUC mean and sd, pooled out-of-fold AUC with a bootstrap 95% CI."""
    fold_aucs = [metrics.roc_auc(t[te], oof[te]) for _, te in folds]
    auc, low, high = metrics.bootstrap_ci(t, oof, metrics.roc_auc, seed=seed)
    return {"pipeline": name, "fold AUC mean": float(np.mean(fold_aucs)),
            "fold AUC sd": float(np.std(fold_aucs, ddof=1)), "pooled AUC": auc,
            "pooled 95% CI": f"{low:.3f}–{high:.3f}", "pooled CI low": low,
            "pooled CI high": high, "fold AUCs": " ".join(f"{a:.3f}" for a in fold_aucs)}


def cross_validate_all(data: StudyData, seed: int = 0, jobs: int | None = None,
                       scheduler: str | None = None,
                       recipes: dict[str, ImageRecipe] | None = None) -> tuple[pd.DataFrame,
                                                                               dict]:
    """Every pipeline's CV on one data set: rows of summarise(), and the out-of-fold
    probabilities by pipeline name."""
    oofs = {name: cnn_oof(data, recipe, seed, jobs, scheduler)
            for name, recipe in (CNN_RECIPES if recipes is None else recipes).items()}
    for name, (crop, c) in texture_candidates().items():
        oofs[name] = linear_oof(data.texture[crop], data.t, data.folds, c)
    oofs[NESTED], _ = nested_texture_oof(data, seed)
    table = pd.DataFrame([summarise(n, data.t, p, data.folds, seed) for n, p in oofs.items()])
    return table.set_index("pipeline"), oofs


# ---------------------------------------------------------------------------- learning curves


def learning_curve(data: StudyData, crop: int, c: float, sizes: list[int], repeats: int = 3,
                   seed: int = 0) -> pd.DataFrame:
    """Pooled out-of-fold AUC of the texture model trained on ``n`` images drawn (stratified, at
    random) from each fold's training part, for each n; mean and sd over ``repeats`` draws."""
    rows = []
    for n in sizes:
        aucs = []
        for rep in range(repeats):
            rng = np.random.default_rng([seed, n, rep])
            oof = np.empty(len(data.t))
            for tr, te in data.folds:
                pick = _stratified_sample(data.t, tr, n, rng)
                oof[te] = fit_linear(data.texture[crop][pick], data.t[pick], c).predict_proba(
                    data.texture[crop][te])
            aucs.append(metrics.roc_auc(data.t, oof))
        rows.append({"data set": data.name, "training images": n,
                     "AUC mean": float(np.mean(aucs)), "AUC sd": float(np.std(aucs, ddof=1))})
    return pd.DataFrame(rows)


def _stratified_sample(t: np.ndarray, pool: np.ndarray, n: int,
                       rng: np.random.Generator) -> np.ndarray:
    if n >= len(pool):
        return pool
    share = t[pool].mean()
    n_pos = int(round(n * share))
    pos, neg = pool[t[pool] == 1], pool[t[pool] == 0]
    return np.sort(np.r_[rng.choice(pos, n_pos, replace=False),
                         rng.choice(neg, n - n_pos, replace=False)])


def curve_sizes(n_train: int, steps: int = 4) -> list[int]:
    """Training-set sizes up to a fold's whole training part, in even steps."""
    return sorted({int(round(n_train * (i + 1) / steps)) for i in range(steps)})


# ---------------------------------------------------------------------------- models


def fit_chosen(data: StudyData, pipeline: str, oof: np.ndarray,
               seed: int = 0) -> TextureModel | ImageCnnModel:
    """The chosen pipeline fitted on every image of ``data``; its threshold maximises Youden's J
    on the same pipeline's out-of-fold probabilities."""
    threshold = metrics.threshold_youden(data.t, oof)
    info = {"pipeline": pipeline, "seed": seed, "cv_pooled_auc": metrics.roc_auc(data.t, oof),
            "trained_on": f"{data.name}, {len(data.t)} images"}
    if pipeline in CNN_RECIPES:
        model = fit_image_cnn(data.images, data.t, CNN_RECIPES[pipeline], seed)
        model.threshold, model.metadata = threshold, info
        return model
    crop, c = texture_candidates()[pipeline]
    config = DiscModelConfig(crop_size=crop, input_size=INPUT_SIZE, scorer="texture",
                             texture_c=c, texture_seed=seed)
    kernels, dilations = config.texture().kernels()
    return TextureModel(config, kernels, dilations, fit_linear(data.texture[crop], data.t, c),
                        threshold, info)


def score_other(model, data_dir: str | Path, ids: list[str], t: np.ndarray,
                seed: int = 0) -> dict:
    """A model's AUC (bootstrap 95% CI) and accuracy on another data set's images."""
    if model.kind == "image_cnn":
        images = load_images(data_dir, ids, model.recipe.image_size)
        prob = model.predict_proba(images.astype(np.float32) / 255.0)
    else:
        x, table = load_disc_crops(data_dir, ids, model.config.crop_size, model.config.input_size)
        prob = model.predict_proba(x.astype(np.float32) / 255.0, table)
    auc, low, high = metrics.bootstrap_ci(t, prob, metrics.roc_auc, seed=seed)
    return {"images": len(t), "glaucoma": int(t.sum()), "AUC": auc,
            "95% CI": f"{low:.3f}–{high:.3f}",
            "accuracy at the model's threshold": metrics.accuracy(t, prob >= model.threshold),
            "always-healthy accuracy": metrics.always_healthy_accuracy(t),
            "synthetic": is_synthetic(data_dir)}


def best_pipeline(table: pd.DataFrame) -> str:
    """The non-nested pipeline with the best pooled CV AUC (the nested row estimates the
    choice, it is not a candidate)."""
    candidates = table.drop(index=[i for i in table.index if "nested" in i])
    return str(candidates["pooled AUC"].idxmax())


# ---------------------------------------------------------------------------- the whole study


def run(g1020: StudyData, airogs: StudyData, g1020_dir: str | Path, g1020_test: tuple,
        seed: int = 0, jobs: int | None = None, scheduler: str | None = None,
        recipes: dict[str, ImageRecipe] | None = None, final_model=None) -> dict:
    """Everything the positive-control notebook shows, as plain tables and numbers.

    ``g1020_test`` is (ids, labels) of G1020's test split, read only to score the AIROGS model on
    it; ``final_model`` is the committed G1020 model, scored on the AIROGS images.
    """
    cv = {}
    for data in (airogs, g1020):
        table, oofs = cross_validate_all(data, seed, jobs, scheduler, recipes)
        cv[data.name] = {"table": table, "oofs": oofs, "labels": data.t}
    chosen = best_pipeline(cv[airogs.name]["table"])
    model = fit_chosen(airogs, chosen, cv[airogs.name]["oofs"][chosen], seed)
    texture = chosen if chosen in texture_candidates() else best_pipeline(
        cv[airogs.name]["table"].drop(index=list(CNN_RECIPES if recipes is None else recipes)))
    crop, c = texture_candidates()[texture]
    curves = pd.concat([learning_curve(d, crop, c, curve_sizes(len(d.folds[0][0])), seed=seed)
                        for d in (airogs, g1020)], ignore_index=True)
    test_ids, test_t = g1020_test
    across = pd.DataFrame({
        f"G1020 model ({final_model.kind}) on {airogs.name}":
            score_other(final_model, airogs.data_dir, airogs.ids, airogs.t, seed),
        f"{airogs.name} model ({model.kind}) on the G1020 test split":
            score_other(model, g1020_dir, test_ids, test_t, seed),
    }).T
    return {"cv": cv, "chosen": chosen, "model": model, "curve_pipeline": texture,
            "curves": curves, "across": across}


def oof_record(results: dict) -> dict:
    """Per data set, the labels and the out-of-fold probabilities of the chosen and the nested
    pipelines, rounded for the run record (the paper's headline ROC figure reads them)."""
    keep = (results["chosen"], NESTED)
    return {name: {"labels": cv["labels"].astype(int).tolist(),
                   **{p: np.round(cv["oofs"][p], 6).tolist() for p in keep}}
            for name, cv in results["cv"].items()}
