"""The paper's front matter as data, from the run records of notebooks 04, 06, 08 and 09: the
records themselves, the key-results tables and the headline ROC figure's curves (the abstract,
introduction and discussion in words are in study/sentences/). Nothing here trains or scores;
every number is read from a record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from glaucoma_lib.paths import models_dir
from glaucoma_lib.study.control import NESTED
from glaucoma_lib.study.experiments import choose_final, seed_summary
from glaucoma_lib.study.original import ORIGINAL_REPORTED, original_test_scoring
from glaucoma_lib.study.records import read_run_record

CONTROL_RUN = "control"  # notebook 08's run folder
SIGNAL_RUN = "signal"  # notebook 09's run folder
KEY_SIGNAL_ROWS = ("CNN, disc crop", "CNN, off-disc crop", "texture, disc crop",
                   "texture, off-disc crop", "image statistics (no disc)")


def load_records(checksum: str, seed: int = 0, n_seeds: int = 3,
                 root: Path | None = None) -> dict[str, Any]:
    """The run records the paper quotes; each must be of the data with ``checksum``. The
    positive control's record is None when notebook 08 ran without AIROGS."""
    root = root or models_dir()
    records = {
        "original": read_run_record(root / "repro_as_built"),
        "fixed": read_run_record(root / "repro_fixed"),
        "improved": [read_run_record(root / f"improved_seed{s}")
                     for s in range(seed, seed + n_seeds)],
    }
    for record in [records["original"], records["fixed"], *records["improved"]]:
        if record["data"]["checksum"] != checksum:
            raise ValueError(f"run {record['run']} was made on other data than this build's: "
                             "rerun notebooks 04 and 06")
    control = root / CONTROL_RUN
    records["control"] = read_run_record(control) if (control / "run_record.json").is_file() \
        else None
    if records["control"] is not None and \
            records["control"]["metrics"].get("g1020_checksum") != checksum:
        records["control"] = None
    signal = root / SIGNAL_RUN
    records["signal"] = read_run_record(signal) if (signal / "run_record.json").is_file() \
        else None
    if records["signal"] is not None and records["signal"]["data"]["checksum"] != checksum:
        records["signal"] = None
    return records


def _auc(t: dict) -> str:
    return f"{t['auc']:.3f} ({t['auc_ci_low']:.3f}–{t['auc_ci_high']:.3f})"


def _original_way(m: dict) -> str:
    return f"{m['original_final_accuracy']['accuracy']:.2%}"


def _sens_spec(t: dict) -> str:
    return f"{t['sensitivity']:.1%} / {t['specificity']:.1%}"


def g1020_table(records: dict) -> pd.DataFrame:
    """Key results on G1020's 220 test images: the original report, the faithful reproduction,
    the fixed pipeline and the improved model (mean ± sd over seeds)."""
    o, f = (records[k]["metrics"] for k in ("original", "fixed"))
    seeds = seed_summary(records["improved"])
    m, s = seeds.loc["mean"], seeds.loc["std"]
    rows = {
        "original report": {
            "accuracy": f"{ORIGINAL_REPORTED['final_test_acc']:.2%} ({original_test_scoring()})",
            "always healthy": "not computed", "ROC AUC (95% CI)": "not measured",
            "sensitivity / specificity": "not measured"},
        "faithful reproduction": {
            "accuracy": f"{o['true_labels']['accuracy']:.1%} ({_original_way(o)} scored the "
                        "original's way)",
            "always healthy": f"{o['true_labels']['always_healthy_accuracy']:.1%}",
            "ROC AUC (95% CI)": _auc(o["true_labels"]),
            "sensitivity / specificity": _sens_spec(o["true_labels"])},
        "fixed pipeline": {
            "accuracy": f"{f['true_labels']['accuracy']:.1%}",
            "always healthy": f"{f['true_labels']['always_healthy_accuracy']:.1%}",
            "ROC AUC (95% CI)": _auc(f["true_labels"]),
            "sensitivity / specificity": _sens_spec(f["true_labels"])},
        f"improved model ({len(records['improved'])} seeds, mean ± sd)": {
            "accuracy": f"{m['accuracy']:.1%}",
            "always healthy": f"{m['always_healthy_accuracy']:.1%}",
            "ROC AUC (95% CI)": f"{m['auc']:.3f} ± {s['auc']:.3f}",
            "sensitivity / specificity": f"{m['sensitivity']:.1%} / {m['specificity']:.1%}"},
    }
    return pd.DataFrame(rows).T.rename_axis("on the G1020 test split")


def control_table(records: dict) -> pd.DataFrame | None:
    """Key results of the positive control: pooled out-of-fold ROC AUC (95% CI) of each
    pipeline on both data sets (the chosen texture row and the nested row only, of the texture
    candidates)."""
    control = records["control"]
    if control is None:
        return None
    cv, chosen = control["metrics"]["cv"], control["metrics"]["chosen"]
    columns = {}
    for name, rows in cv.items():
        by_pipeline = {r["pipeline"]: r for r in rows}
        keep = [p for p in by_pipeline if "texture" not in p] + [chosen, NESTED]
        columns[f"{name} ({len(control['metrics']['oof'][name]['labels'])})"
                if "oof" in control["metrics"] else name] = {
            p: f"{by_pipeline[p]['pooled AUC']:.3f} ({by_pipeline[p]['pooled 95% CI']})"
            for p in keep}
    return pd.DataFrame(columns).rename_axis("pooled CV ROC AUC (95% CI)")


def signal_table(records: dict) -> pd.DataFrame | None:
    """Key results of the where-is-the-signal study: pooled out-of-fold ROC AUC (95% CI) of the
    CNN and the texture model on the disc and off-disc crops, and of the image statistics, on
    each data set (a dash where a row is not run in this build)."""
    signal = records["signal"]
    if signal is None:
        return None
    rows = pd.DataFrame(signal["metrics"]["signal"])
    rows = rows[rows["model and input"].isin(KEY_SIGNAL_ROWS)]
    cells = rows.assign(cell=[f"{a:.3f} ({lo:.3f}–{hi:.3f})" for a, lo, hi in
                              zip(rows["AUC"], rows["low"], rows["high"], strict=True)])
    wide = cells.pivot(index="model and input", columns="data set", values="cell")
    order = [r for r in KEY_SIGNAL_ROWS if r in wide.index]
    return wide.loc[order, list(dict.fromkeys(rows["data set"]))].fillna("–")


def _interval(summary: dict) -> tuple[float, float, float]:
    return summary["auc"], summary["auc_ci_low"], summary["auc_ci_high"]


def headline_curves(records: dict) -> dict[str, tuple[np.ndarray, np.ndarray, tuple]]:
    """(labels, scores, recorded (AUC, CI low, CI high)) per curve of the headline ROC figure: the
    three G1020 models on the test split and the honest (nested) positive-control estimate on
    AIROGS, out of fold."""
    curves = {}
    for key, label in (("original", "faithful reproduction"), ("fixed", "fixed pipeline")):
        m = records[key]["metrics"]
        p = m["predictions"]
        curves[f"G1020 test: {label}"] = (np.array(p["label_true"]), np.array(p["prob_glaucoma"]),
                                          _interval(m["true_labels"]))
    final = choose_final(records["improved"])
    p = final["metrics"]["predictions"]
    curves[f"G1020 test: improved model (seed {final['seed']})"] = (
        np.array(p["label_true"]), np.array(p["prob_glaucoma"]),
        _interval(final["metrics"]["test"]))
    control = records["control"]
    if control is not None:
        for name, oof in control["metrics"]["oof"].items():
            row = next(r for r in control["metrics"]["cv"][name] if r["pipeline"] == NESTED)
            curves[f"{name} cross-validated: texture model (nested)"] = (
                np.array(oof["labels"]), np.array(oof[NESTED]),
                (row["pooled AUC"], row["pooled CI low"], row["pooled CI high"]))
    return curves
