"""The experiments around the disc models: cross-validation, seed runs with their records, the
fast-ideas table, the leakage study, and the tables the notebooks show. Only training images
choose anything; the test split is scored once per run and stored in its record.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from glaucoma_lib import metrics
from glaucoma_lib.data import split
from glaucoma_lib.data.loading import data_checksum
from glaucoma_lib.models.disc_fit import fit_disc_cnn, fit_model
from glaucoma_lib.models.disc_model import DiscData, DiscModel, DiscModelConfig, load_disc_data_sets
from glaucoma_lib.models.features import disc_features
from glaucoma_lib.models.kinds import WEIGHTS_PATH
from glaucoma_lib.models.linear import fit_linear
from glaucoma_lib.paths import models_dir, weights_dir
from glaucoma_lib.study.original import NOT_COMPUTED, ORIGINAL_REPORTED, original_test_scoring
from glaucoma_lib.study.records import WEIGHTS_FILE, read_run_record, write_run_record
from glaucoma_lib.tasks import run_tasks

COMPANION_CNN_FILE = "cnn.npz"


def cv_fold(data: DiscData, config: DiscModelConfig, train: np.ndarray, test: np.ndarray,
            seed: int = 0) -> tuple[np.ndarray, float]:
    """One fold as a task: the held-out probabilities and the inner validation AUC of a model
    selected on its own training part (fit_model), never on the held-out fold."""
    model, val = fit_model(data.subset(train), config, seed)
    held = data.subset(test)
    return model.predict_proba(held.x, held.locations), val["val_auc"]


def cv_tasks(data: DiscData, config: DiscModelConfig, folds: list, seed: int = 0) -> list[tuple]:
    """cv_fold's arguments for each fold, so callers can pool folds of several studies."""
    return [(data, config, tr, te, seed) for tr, te in folds]


def cv_table(t: np.ndarray, folds: list,
             results: list[tuple[np.ndarray, float]]) -> tuple[pd.DataFrame, np.ndarray]:
    """Per-fold AUCs and out-of-fold probabilities from cv_fold's results, in fold order."""
    oof = np.full(len(t), np.nan)
    rows = []
    for k, ((_, te), (prob, val_auc)) in enumerate(zip(folds, results, strict=True)):
        oof[te] = prob
        rows.append({"fold": k, "n": len(te), "glaucoma": int(t[te].sum()),
                     "auc": metrics.roc_auc(t[te], prob), "inner_val_auc": val_auc})
    return pd.DataFrame(rows), oof


def cross_validate(data: DiscData, config: DiscModelConfig, folds: list, seed: int = 0,
                   jobs: int | None = None,
                   scheduler: str | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Per-fold AUCs and out-of-fold probabilities; one task per fold (cv_fold)."""
    results = run_tasks(cv_fold, cv_tasks(data, config, folds, seed), jobs, scheduler)
    return cv_table(data.t, folds, results)


def baseline_cross_validate(data: DiscData, folds: list, c: float = 0.01) -> pd.DataFrame:
    """The non-deep baseline (disc-feature logistic regression) on the same folds."""
    feats = disc_features(data.x, data.locations)
    rows = []
    for k, (tr, te) in enumerate(folds):
        p = fit_linear(feats[tr], data.t[tr], c).predict_proba(feats[te])
        rows.append({"fold": k, "auc": metrics.roc_auc(data.t[te], p)})
    return pd.DataFrame(rows)


def _linear_fold_aucs(feats: np.ndarray, t: np.ndarray, folds: list, c: float) -> np.ndarray:
    """AUC on each held-out fold of a logistic regression fitted on the rest."""
    return np.array([metrics.roc_auc(t[te], fit_linear(feats[tr], t[tr], c).predict_proba(
        feats[te])) for tr, te in folds])


def texture_cross_validate(data: DiscData, folds: list, config: DiscModelConfig) -> pd.DataFrame:
    """Texture-model AUC per fold (features computed once; seconds, no CNN training)."""
    aucs = _linear_fold_aucs(config.texture()(data.x), data.t, folds, config.texture_c)
    return pd.DataFrame({"fold": np.arange(len(folds)), "auc": aucs})


def _idea_rows(train: DiscData, config: DiscModelConfig, k: int) -> list[dict]:
    """The fast ideas at one crop size (a task): blocked k-fold CV of each."""
    folds = split.blocked_folds(len(train.t), k)
    crop = config.crop_size
    rows = []
    for idea, table in ((f"disc colour/texture statistics + LR, crop {crop}",
                         baseline_cross_validate(train, folds)),
                        (f"random-kernel texture + LR, crop {crop}",
                         texture_cross_validate(train, folds, config))):
        rows.append({"idea": idea, "cv_auc_mean": table["auc"].mean(),
                     "cv_auc_std": table["auc"].std(ddof=1),
                     "fold_aucs": " ".join(f"{a:.3f}" for a in table["auc"])})
    return rows


def ideas_table(data_dir: str | Path, crop_sizes: tuple[int, ...] = (160, 96, 64), k: int = 5,
                jobs: int | None = None, scheduler: str | None = None) -> pd.DataFrame:
    """Blocked k-fold CV AUC (800 training images only) of the fast ideas: hand-made disc
    features and random-kernel texture features at several crop sizes, each with a logistic
    regression; one task per crop size. The CNN variants are in the sweep table (too slow for
    the report build)."""
    configs = [replace(DiscModelConfig(), crop_size=crop) for crop in crop_sizes]
    tasks = [(train, config, k) for (train, _), config in
             zip(load_disc_data_sets(data_dir, configs), configs, strict=True)]
    return pd.DataFrame([row for rows in run_tasks(_idea_rows, tasks, jobs, scheduler)
                         for row in rows])


def export_final(model: DiscModel, data_dir: str | Path, path: str | Path | None = None,
                 extra: dict | None = None) -> Path:
    """Write the chosen model as final.npz (what predict uses by default) into paths.weights_dir(),
    with the data checksum, threshold and validation metrics it was chosen by: in a report build
    that is the build folder, and the swap puts it in glaucoma_lib/weights/ with the report."""
    path = Path(path) if path is not None else weights_dir() / WEIGHTS_PATH.name
    return model.save(path, {"data_checksum": data_checksum(data_dir), **(extra or {})})


# ---------------------------------------------------------------------------- study runs


def test_summary(y: np.ndarray, prob: np.ndarray, threshold: float, seed: int = 0) -> dict:
    """Screening numbers at a validation-chosen threshold, plus sensitivity at 80% specificity."""
    summary = metrics.screening_summary(y, prob, threshold)
    summary["sensitivity_at_80_specificity"] = metrics.sensitivity_at_specificity(y, prob, 0.8)
    if 0 < np.sum(y) < len(y):
        auc, low, high = metrics.bootstrap_ci(y, prob, metrics.roc_auc, seed=seed)
        summary.update(auc=auc, auc_ci_low=low, auc_ci_high=high)
    return summary


def train_seeds(train: DiscData, test: DiscData, config: DiscModelConfig, seeds: list[int],
                data_dir: str | Path, synthetic: bool, prefix: str = "improved",
                jobs: int | None = None, scheduler: str | None = None,
                notes: str = "") -> list[dict]:
    """Fit one model per seed on the 800 training images, score the test split once, and write
    models/<prefix>_seed<s>/ (weights.npz + run record with the test predictions, and ``notes``,
    how the model was fitted, in words: sentences.method_note); one task per seed.

    With the texture scorer, the disc CNN of the same seed is trained beside it (cnn.npz), for
    comparison and for the explanations of notebook 07; it plays no part in the final score.
    """
    checksum = data_checksum(data_dir)
    # Folders named here, not in the workers: a worker's environment may predate this call's.
    run_dirs = [models_dir() / f"{prefix}_seed{seed}" for seed in seeds]
    tasks = [(train, test, config, seed, run_dir, checksum, data_dir, synthetic, notes)
             for seed, run_dir in zip(seeds, run_dirs, strict=True)]
    run_tasks(_train_seed, tasks, jobs, scheduler)
    return [read_run_record(run_dir) for run_dir in run_dirs]


def _train_seed(train: DiscData, test: DiscData, config: DiscModelConfig, seed: int,
                run_dir: Path, checksum: str, data_dir: str | Path, synthetic: bool,
                notes: str) -> None:
    """One seed of train_seeds (a task): fit, score the test split, write the run folder."""
    started = time.perf_counter()
    model, val = fit_model(train, config, seed)
    seconds = time.perf_counter() - started
    run_dir.mkdir(parents=True, exist_ok=True)
    history = val.pop("history", None)
    if history is None:
        cnn, _, history = fit_disc_cnn(train, replace(config, scorer="cnn"), seed)
        cnn.save(run_dir / COMPANION_CNN_FILE, {"data_checksum": checksum, "seed": seed})
    prob = model.predict_proba(test.x, test.locations)
    model.save(run_dir / WEIGHTS_FILE, {"data_checksum": checksum})
    write_run_record(
        run_dir, config=config.to_dict(), seed=seed, data_checksum=checksum,
        metrics={"validation": val, "test": test_summary(test.t, prob, model.threshold, seed),
                 "predictions": {"image_id": test.ids, "label_true": test.t.tolist(),
                                 "prob_glaucoma": np.round(prob, 6).tolist()}},
        history=json.loads(history.to_json()), timings={"train_seconds": seconds},
        synthetic=synthetic, data_dir=data_dir, notes=notes,
    )


def baseline_run(train: DiscData, test: DiscData, c: float = 0.01) -> dict:
    """Non-deep baseline on the original split: disc-feature logistic regression fitted on the
    first 80% of the training images, threshold on the last 20% block, scored on the test split."""
    tr_idx, val_idx = split.validation_block(len(train.t))
    f_train = disc_features(train.x, train.locations)
    scorer = fit_linear(f_train[tr_idx], train.t[tr_idx], c)
    threshold = metrics.threshold_youden(train.t[val_idx], scorer.predict_proba(f_train[val_idx]))
    prob = scorer.predict_proba(disc_features(test.x, test.locations))
    return {"validation_auc": metrics.roc_auc(train.t[val_idx],
                                              scorer.predict_proba(f_train[val_idx])),
            "test": test_summary(test.t, prob, threshold), "prob": prob}


def seed_summary(records: list[dict]) -> pd.DataFrame:
    """Test metrics of each seed's run with mean and standard deviation rows."""
    keys = ["auc", "auc_ci_low", "auc_ci_high", "accuracy", "always_healthy_accuracy",
            "sensitivity", "specificity", "sensitivity_at_80_specificity", "brier", "threshold"]
    rows = {f"seed {r['seed']}": {k: r["metrics"]["test"].get(k, np.nan) for k in keys}
            for r in records}
    for r in records:
        rows[f"seed {r['seed']}"]["validation AUC"] = r["metrics"]["validation"]["val_auc"]
    frame = pd.DataFrame(rows).T
    stats = frame.agg(["mean", "std"])
    stats.index = ["mean", "std"]
    return pd.concat([frame, stats])


def choose_final(records: list[dict]) -> dict:
    """The seed whose model had the best validation AUC (test numbers play no part)."""
    return max(records, key=lambda r: r["metrics"]["validation"]["val_auc"])


def fold_study(data: DiscData, config: DiscModelConfig, seed: int = 0, k: int = 5,
               jobs: int | None = None, scheduler: str | None = None) -> dict:
    """Blocked vs image-level random k-fold CV over the same images: the leakage study. The
    folds of both splits run as one pool of tasks.

    Neighbouring image numbers are often the same patient (G1020's patient table), so a random
    split puts one patient's photographs on both sides; the gap between the two AUCs is what
    that leakage would add.
    """
    n = len(data.t)
    splits = {"blocked": split.blocked_folds(n, k), "random": split.random_folds(n, k, seed)}
    tasks = [task for folds in splits.values() for task in cv_tasks(data, config, folds, seed)]
    results = iter(run_tasks(cv_fold, tasks, jobs, scheduler))
    out = {}
    for name, folds in splits.items():
        table, oof = cv_table(data.t, folds, [next(results) for _ in folds])
        table["baseline_auc"] = baseline_cross_validate(data, folds)["auc"]
        out[name] = {"folds": table, "oof": oof, "pooled_auc": metrics.roc_auc(data.t, oof)}
    return out


def fold_study_table(study: dict) -> pd.DataFrame:
    """Mean and spread of fold AUCs, blocked vs random, CNN and baseline."""
    rows = {}
    for name, res in study.items():
        f = res["folds"]
        rows[name] = {"model fold AUC mean": f["auc"].mean(),
                      "model fold AUC std": f["auc"].std(),
                      "model pooled out-of-fold AUC": res["pooled_auc"],
                      "baseline fold AUC mean": f["baseline_auc"].mean(),
                      "baseline fold AUC std": f["baseline_auc"].std()}
    frame = pd.DataFrame(rows).T
    frame.index.name = "split"
    return frame


def _random_fold_auc(feats: np.ndarray, t: np.ndarray, k: int, permutation: int,
                     c: float) -> float:
    """Mean fold AUC over one random fold assignment (a task of leakage_permutations)."""
    return _linear_fold_aucs(feats, t, split.random_folds(len(t), k, permutation), c).mean()


def leakage_permutations(data: DiscData, config: DiscModelConfig, seed: int = 0,
                         n_permutations: int = 10, k: int = 5, jobs: int | None = None,
                         scheduler: str | None = None) -> pd.DataFrame:
    """The leakage study repeated over several random fold assignments (texture model only: its
    features are computed once, so each permutation costs seconds); one task per permutation.

    One random permutation gives one gap between blocked and random CV; its fold-assignment
    noise is as large as the gap itself, so the gap is reported over n_permutations of them.
    The kernel bank is that of ``seed``, as fit_model would draw it.
    """
    if config.scorer != "texture":
        raise ValueError("the permutation study refits only the texture model; got scorer "
                         f"{config.scorer!r}")
    feats = replace(config, texture_seed=seed).texture()(data.x)
    c = config.texture_c
    blocked = _linear_fold_aucs(feats, data.t, split.blocked_folds(len(data.t), k), c).mean()
    permutations = range(seed, seed + n_permutations)
    random = run_tasks(_random_fold_auc, [(feats, data.t, k, p, c) for p in permutations],
                       jobs, scheduler)
    table = pd.DataFrame({"permutation seed": permutations, "blocked fold AUC mean": blocked,
                          "random fold AUC mean": random})
    table["gap (blocked - random)"] = (table["blocked fold AUC mean"]
                                       - table["random fold AUC mean"])
    return table


def run_weights(record: dict, name: str = WEIGHTS_FILE) -> Path:
    """A weight file of a run written by train_seeds (``COMPANION_CNN_FILE`` for its CNN)."""
    return models_dir() / record["run"] / name


def _test_column(t: dict) -> dict:
    auc = (f"{t['auc']:.3f} ({t['auc_ci_low']:.3f}–{t['auc_ci_high']:.3f})" if "auc" in t
           else "not measured")
    return {"test images": str(t["n"]), "test ROC AUC (95% CI)": auc,
            "test accuracy": f"{t['accuracy']:.1%}",
            "always-healthy accuracy": f"{t['always_healthy_accuracy']:.1%}",
            "sensitivity / specificity": f"{t['sensitivity']:.1%} / {t['specificity']:.1%}",
            "threshold": f"{t['threshold']:.3f}"}


def test_comparison_table(records: list[dict], baseline: dict) -> pd.DataFrame:
    """Notebook 07's comparison on the test split: the original report, the improved model over
    seeds and chosen, the non-deep baseline. It reads no record of notebook 04, so the build
    runs notebook 07 beside the original network's training; those runs are in the key-results
    table and notebook 05. An interval is a bootstrap 95% CI over test images; the spread over
    seeds is another number and has its own row."""
    summary, final = seed_summary(records), choose_final(records)
    spread = "test ROC AUC, mean ± sd over seeds"
    table = {"original report": {
        "test images": original_test_scoring(),
        "test ROC AUC (95% CI)": "not measured", spread: None,
        "test accuracy": f"{ORIGINAL_REPORTED['final_test_acc']:.1%}",
        "always-healthy accuracy": NOT_COMPUTED,
        "sensitivity / specificity": "not measured", "threshold": "0.5 (argmax)"}}
    m = summary.loc["mean"]
    table[f"improved (mean of {len(records)} seeds)"] = {
        **_test_column({**final["metrics"]["test"], **{k: m[k] for k in (
            "accuracy", "always_healthy_accuracy", "sensitivity", "specificity")}}),
        "test ROC AUC (95% CI)": None,
        spread: f"{m['auc']:.3f} ± {summary.loc['std', 'auc']:.3f}",
        "threshold": "per seed, from validation"}
    table[f"improved, chosen model (seed {final['seed']})"] = {
        **_test_column(final["metrics"]["test"]), spread: None}
    table["non-deep baseline (disc features + logistic regression)"] = {
        **_test_column(baseline["test"]), spread: None}
    return pd.DataFrame(table)


CONFIDENCE_CUT = 0.8  # detector confidence separating sure from unsure detections


def confidence_table(y: np.ndarray, prob: np.ndarray, threshold: float, confidence: np.ndarray,
                     cut: float = CONFIDENCE_CUT) -> pd.DataFrame:
    """AUC and accuracy on test images split by the disc detector's confidence."""
    pred = (prob >= threshold).astype(int)
    rows = {}
    for name, mask in ((f"confidence >= {cut}", confidence >= cut),
                       (f"confidence < {cut}", confidence < cut)):
        ok = mask.sum() > 1 and 0 < y[mask].sum() < mask.sum()
        rows[name] = {"images": int(mask.sum()), "glaucoma": int(y[mask].sum()),
                      "ROC AUC": metrics.roc_auc(y[mask], prob[mask]) if ok else np.nan,
                      "accuracy": float((pred[mask] == y[mask]).mean()) if mask.any() else np.nan}
    return pd.DataFrame(rows).T
