"""The words of notebook 08: the positive control."""

from __future__ import annotations

import pandas as pd

from glaucoma_lib.study.audit import (
    AIROGS_AUDIT_SAMPLE,
    AIROGS_AUDITED_MISSES,
)
from glaucoma_lib.study.control import CNN_RECIPES, NESTED

# -------------------------------------------------------------- notebook 08: the positive control


def airogs_audit_text(confidence_of_misses: list[float]) -> str:
    """Notebook 08's hit-rate paragraph for the by-eye audit of the AIROGS sample, with what the
    detector's confidence says about the misses among the images shown."""
    n, misses = len(AIROGS_AUDIT_SAMPLE), len(AIROGS_AUDITED_MISSES)
    text = (f"**Disc detection on {n} randomly drawn AIROGS images, counted by eye:** "
            f"{n - misses} of {n} ({(n - misses) / n:.0%}) put the crop on the optic disc; the "
            f"{misses} misses mostly sit on the bright rim at the edge of the field.")
    if confidence_of_misses:
        high = sum(c >= 0.9 for c in confidence_of_misses)
        text += (f" {high} of the {len(confidence_of_misses)} misses shown have a detector "
                 "confidence of 0.9 or more" + (", so confidence does not flag them all."
                                                 if high else "."))
    return text + " The texture models use every crop, misses included."


def _auc_text(row: pd.Series) -> str:
    return f"{row['pooled AUC']:.3f} ({row['pooled 95% CI']})"


def _flat_from(curve: pd.DataFrame, within: float = 0.01) -> int | None:
    """The smallest training size from which every larger size's mean AUC lies within
    ``within`` of the largest size's, or None when only the largest size does."""
    aucs = curve["AUC mean"].to_numpy()
    sizes = curve["training images"].to_numpy()
    close = abs(aucs - aucs[-1]) <= within
    first = len(close) - int(close[::-1].argmin()) if not close.all() else 0
    return int(sizes[first]) if first < len(sizes) - 1 else None


def _curve_sentence(name: str, pipeline: str, curve: pd.DataFrame) -> str:
    first, last = curve.iloc[0], curve.iloc[-1]
    flat = _flat_from(curve)
    return (f"Learning curve, {name} ('{pipeline}'): AUC {first['AUC mean']:.3f} with "
            f"{first['training images']} training images, {last['AUC mean']:.3f} with "
            f"{last['training images']}"
            + ("; it still moves by more than 0.01 over the last step." if flat is None else
               f"; flat (within 0.01 of the last) from {flat} images on."))


def control_findings(results: dict, airogs_name: str, g1020_name: str) -> list[str]:
    """What the positive control shows, one paragraph per entry, from the computed tables."""
    a, g = (results["cv"][n]["table"] for n in (airogs_name, g1020_name))
    chosen, nested = results["chosen"], NESTED
    cnns = [name for name in a.index if name in CNN_RECIPES or "DeepConvNet" in name]
    lines = [
        f"On {airogs_name}, whose labels graders gave by looking at each photograph, the same "
        "code learns: pooled out-of-fold ROC AUC (bootstrap 95% CI) "
        + "; ".join(f"{n}: {_auc_text(a.loc[n])}" for n in [*cnns, chosen, nested]) + ".",
        f"By the same procedures on {g1020_name}'s training images: "
        + "; ".join(f"{n}: {_auc_text(g.loc[n])}" for n in [*cnns, chosen, nested]) + ".",
        f"The pipeline with the best pooled CV AUC on {airogs_name} is '{chosen}' "
        f"({a.loc[chosen, 'pooled AUC']:.3f}); it was chosen among {len(a) - 1} candidates on "
        "these same folds, so that figure is optimistic; the nested row, where the texture "
        f"settings are chosen inside each training part, is the honest estimate "
        f"({a.loc[nested, 'pooled AUC']:.3f}).",
    ]
    curves = results["curves"]
    lines += [_curve_sentence(name, results["curve_pipeline"], curves[curves["data set"] == name])
              for name in (airogs_name, g1020_name)]
    lines.append(f"The learning curves use '{results['curve_pipeline']}', the pipeline selected "
                 "on these same folds, so their level is optimistic in the same way; their "
                 "shape, not their height, is what they show.")
    for label, row in results["across"].iterrows():
        lines.append(f"{label}: AUC {row['AUC']:.3f} ({row['95% CI']}) on {row['images']} "
                     f"images.")
    lines.append(f"{airogs_name} publishes no patient identifiers, so its folds are stratified "
                 "by class at random: they cannot keep both eyes of one person, or repeat "
                 "photographs of one eye, together on one side of a split, and such pairs split "
                 "across training and held-out images would inflate its numbers.")
    return lines
