"""The original study beside our runs: what it reported, the tables behind notebook 05's figures
for each of notebook 04's runs, and the side-by-side table (the findings in words are in
study/sentences/). Notebook 05 draws the figures.

The original's numbers are typed once, in ORIGINAL_REPORTED; ours always come from run records.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from glaucoma_lib.data.labels import CLASS_NAMES
from glaucoma_lib.data.split import ORIGINAL_N_TEST
from glaucoma_lib.study.records import history_frame, iteration_loss_frame
from glaucoma_lib.study.reproduce import RUNS

# What the original study reported (shared/seed/original_report_ko.txt), typed once here so the
# report compares against it; our own numbers always come from run records.
ORIGINAL_REPORTED = {
    "train_acc_per_epoch": 0.78,
    "test_acc_per_epoch": 0.74,
    "epoch_loss": (0.6521, 0.6604, 0.6604, 0.6713, 0.6360, 0.6559, 0.6444, 0.6372, 0.6548,
                   0.6263, 0.6224, 0.6367, 0.6510, 0.6401, 0.6282, 0.6464, 0.6289, 0.6459,
                   0.6268, 0.6485),
    "final_test_acc": 0.6864,
    "samples_evaluated_per_epoch": 50,
}
NOT_COMPUTED = "not computed by the original"


def original_test_scoring() -> str:
    """Which test images the original's accuracies counted, from the faithful run's options."""
    batch = RUNS["repro_as_built"].final_accuracy_batch
    scored = ORIGINAL_N_TEST // batch * batch
    return (f"first {scored} of {ORIGINAL_N_TEST} scored, count divided by {ORIGINAL_N_TEST} "
            f"({ORIGINAL_REPORTED['samples_evaluated_per_epoch']} per epoch)")


def _pct(value: float | None) -> str:
    return "not measured" if value is None or np.isnan(value) else f"{100 * value:.2f}%"


def _loss(value: float) -> str:
    return f"{value:.4f}"


def span(values: list, fmt=_pct) -> str:
    """'78.00%' when every value is the same, else '70.00% – 78.00%' (tables and sentences)."""
    values = [v for v in values if v is not None]
    if not values:
        return "not measured"
    low, high = min(values), max(values)
    return fmt(low) if low == high else f"{fmt(low)} – {fmt(high)}"


def _pairing(counts: dict[str, int], key: str) -> str:
    return f"{counts[key]} of {counts['n_images']} ({counts[key] / counts['n_images']:.2%})"


def _original_final(m: dict[str, Any]) -> str:
    """The final accuracy as the original computed it, with what was scored and divided by."""
    o = m.get("original_final_accuracy")
    if o is None:
        return "not used (every test image scored)"
    return (f"{_pct(o['accuracy'])} ({o['correct']} correct of the first {o['scored']} scored, "
            f"divided by {o['divided_by']})")


def _run_column(record: dict[str, Any]) -> list[str]:
    h, m = record["history"], record["metrics"]
    scored, true = m["as_scored"], m["true_labels"]
    evaluated = record["config"].get("evaluate_sample_num_per_epoch")
    train, test = m["pairing"]["train"], m["pairing"]["test"]
    return [
        span(h["train_acc"]),
        span(h["test_acc"]),
        span(h["epoch_loss"], _loss),
        f"{evaluated} of each split" if evaluated else "all images",
        _original_final(m),
        _pct(scored["accuracy"]),
        _pct(scored["always_healthy_accuracy"]),
        _pairing(train, "n_other_image_label"),
        _pairing(train, "n_wrong_class"),
        f"{test['n_other_image_label']} / {test['n_wrong_class']} of {test['n_images']}",
        _pct(true["accuracy"]),
        _pct(true["always_healthy_accuracy"]),
        f"{true['auc']:.3f} ({true['auc_ci_low']:.3f}–{true['auc_ci_high']:.3f})"
        if "auc" in true else "not measured",
        f"{_pct(true['sensitivity'])} / {_pct(true['specificity'])}",
    ]


def comparison_table(original: dict[str, Any], fixed: dict[str, Any]) -> pd.DataFrame:
    """The original's reported numbers beside our faithful reproduction and the fixed run."""
    rep = ORIGINAL_REPORTED
    reported = [
        f"{_pct(rep['train_acc_per_epoch'])} every epoch",
        f"{_pct(rep['test_acc_per_epoch'])} every epoch",
        span(list(rep["epoch_loss"]), _loss),
        f"{rep['samples_evaluated_per_epoch']} of each split",
        _pct(rep["final_test_acc"]),
        NOT_COMPUTED,
        NOT_COMPUTED,
        "not checked",
        "not checked",
        "not checked",
        "not measured",
        "not measured",
        "not measured",
        "not measured",
    ]
    rows = [
        "train accuracy per epoch (range)",
        "test accuracy per epoch (range)",
        "mean training loss per epoch (range)",
        "images evaluated per epoch",
        "final test accuracy as the original computed it (labels as paired)",
        "final test accuracy, all test images (labels as paired)",
        "always-healthy accuracy, all test images (labels as paired)",
        "training images given another image's label",
        "training images given the wrong class",
        "test images given another image's label / the wrong class",
        "final test accuracy against the true labels",
        "always-healthy accuracy (true labels)",
        "ROC AUC, true labels (bootstrap 95% CI)",
        "sensitivity / specificity at 0.5, true labels",
    ]
    return pd.DataFrame(
        {
            "original report": reported,
            f"faithful reproduction ({original['run']})": _run_column(original),
            f"fixed pipeline ({fixed['run']})": _run_column(fixed),
        },
        index=pd.Index(rows, name="quantity"),
    )


def predictions(record: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """Test-set image IDs, true labels, labels as the run paired them, glaucoma probabilities."""
    p = record["metrics"]["predictions"]
    return (np.array(p["image_id"]), np.array(p["label_true"]), np.array(p["label_scored"]),
            np.array(p["prob_glaucoma"]))


def accuracy_table(record: dict[str, Any]) -> pd.DataFrame:
    """Per-epoch accuracies (%) with the always-healthy baseline of the same images beside them."""
    frame = history_frame(record).set_index("epoch")
    baseline = record["metrics"]["always_healthy_per_epoch"]
    table = pd.DataFrame({
        "train accuracy": frame["train_acc"],
        "train: always healthy": baseline.get("train_evaluated", np.nan),
        "test accuracy": frame["test_acc"],
        "test: always healthy": baseline["test_evaluated"],
    })
    return (100 * table).round(2)


def loss_table(record: dict[str, Any]) -> pd.DataFrame:
    """Per epoch: the mean, smallest and largest mini-batch loss (all of them:
    records.iteration_loss_frame)."""
    losses = iteration_loss_frame(record)
    spread = losses.drop(columns="mean")
    return pd.DataFrame({"mean": losses["mean"], "min": spread.min(axis=1),
                         "max": spread.max(axis=1)})


def confident_mistakes(record: dict[str, Any], n: int = 18) -> tuple[pd.DataFrame, int]:
    """(the n most confident mistakes on the test split against the true labels, most confident
    first: image ID, true and predicted class, p(glaucoma), the label the run paired the image
    with; the number of test images misclassified)."""
    ids, y_true, y_scored, prob = predictions(record)
    pred = (prob >= 0.5).astype(int)
    wrong = np.flatnonzero(pred != y_true)
    worst = wrong[np.argsort(-np.abs(prob[wrong] - y_true[wrong]))][:n]
    names = np.array(CLASS_NAMES)
    table = pd.DataFrame({"image": ids[worst], "true": names[y_true[worst]],
                          "predicted": names[pred[worst]], "p_glaucoma": prob[worst],
                          "paired": names[y_scored[worst]]})
    return table, len(wrong)
