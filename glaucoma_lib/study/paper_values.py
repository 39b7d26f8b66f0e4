"""Every number the paper quotes, by name, and its tables as rows of formatted cells.

The paper's prose (report/paper.md) names these values ("signal.airogs.cnn_disc") and the
build fills them in and checks the paper's conditions against them. They are read from the run
records (load_records) and from the data sets' own label files; nothing here
trains or scores. An AUC is stored as {"value", "low", "high"} (its bootstrap 95% interval).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from glaucoma_lib.data.annotations import read_annotations
from glaucoma_lib.data.images import read_image
from glaucoma_lib.data.labels import read_labels
from glaucoma_lib.data.loading import image_path
from glaucoma_lib.data.patients import patient_table
from glaucoma_lib.data.split import original_split
from glaucoma_lib.models.gap_cnn import GapCnnConfig
from glaucoma_lib.models.regions import load_region_crops
from glaucoma_lib.nn.network import NetworkConfig
from glaucoma_lib.paths import models_dir
from glaucoma_lib.study.control import NESTED
from glaucoma_lib.study.experiments import choose_final, seed_summary
from glaucoma_lib.study.original import ORIGINAL_REPORTED
from glaucoma_lib.study.records import read_run_record

SIGNAL_ROWS = {"cnn_disc": "CNN, disc crop", "cnn_off": "CNN, off-disc crop",
               "texture_disc": "texture, disc crop", "texture_off": "texture, off-disc crop",
               "texture_whole": "texture, whole image", "stats": "image statistics (no disc)"}
DATA_KEYS = {"EyePACS-AIROGS-light": "airogs", "G1020": "g1020", "HYGD": "hygd",
             "synthetic set": "g1020"}  # the synthetic set stands in for G1020
SHORT_NAMES = {"airogs": "AIROGS-light", "g1020": "G1020", "hygd": "HYGD"}
MODEL_KEYS = {"CNN, disc crop": "cnn", "texture, disc crop": "texture"}
DASH = "–"


def estimate(auc: float, low: float, high: float) -> dict[str, float]:
    return {"value": float(auc), "low": float(low), "high": float(high)}


def _auc_cell(e: dict | None) -> str:
    return DASH if e is None else f"{e['value']:.3f} ({e['low']:.3f}–{e['high']:.3f})"


def _test_estimate(summary: dict) -> dict[str, float]:
    return estimate(summary["auc"], summary["auc_ci_low"], summary["auc_ci_high"])


CONTROL_RUN = "control"  # notebook 08's run folder
SIGNAL_RUN = "signal"  # notebook 09's run folder


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


# ------------------------------------------------------------------------------ the data sets


def _counts(t: np.ndarray) -> dict[str, Any]:
    return {"images": int(len(t)), "glaucoma": int(t.sum()),
            "glaucoma_share": float(t.mean())}


def data_facts(g1020_dir: str | os.PathLike, airogs_dir: str | os.PathLike | None,
               hygd_dir: str | os.PathLike | None) -> dict[str, dict]:
    """Sizes, glaucoma counts and patients of each data set present, from its own files."""
    labels = read_labels(g1020_dir)
    t = labels["binaryLabels"].to_numpy()
    train, test = original_split(labels["imageID"])
    label_of = dict(zip(labels["imageID"], t, strict=True))
    g1020 = {**_counts(t), "train": len(train), "test": len(test),
             "test_glaucoma": int(sum(label_of[i] for i in test))}
    table = patient_table(g1020_dir)
    if table is not None:
        by_image = table.set_index("imageID")
        per_patient = by_image.assign(test=by_image.index.isin(test)).groupby("patientID")
        straddling = per_patient["test"].nunique() > 1  # images on both sides of the split
        g1020.update(patients=int(by_image["patientID"].nunique()),
                     most_images=int(per_patient.size().max()),
                     suspects=int((by_image["detailedLabels"] == "0c").sum()),
                     former=int((by_image["detailedLabels"] == "0b").sum()),
                     straddling=int(per_patient.size()[straddling].sum()))
    annotations = read_annotations(g1020_dir)
    if annotations is not None:
        g1020["annotated"] = int(len(annotations))
    facts = {"g1020": g1020}
    for key, folder in (("airogs", airogs_dir), ("hygd", hygd_dir)):
        if folder is None:
            continue
        labels = read_labels(folder)
        facts[key] = _counts(labels["binaryLabels"].to_numpy())
        table = patient_table(folder)
        if table is not None:
            facts[key]["patients"] = int(table["patientID"].nunique())
    return facts


def data_table(facts: dict) -> dict:
    labels = {"g1020": ("clinical diagnosis", "reproduction"),
              "airogs": ("graders, photograph", "positive control"),
              "hygd": ("clinical diagnosis", "clinical labels")}
    rows = []
    for key in ("g1020", "airogs", "hygd"):
        if key not in facts:
            continue
        f = facts[key]
        rows.append([SHORT_NAMES[key], f"{f['images']:,}",
                     f"{f['patients']:,}" if "patients" in f else "not published",
                     f"{f['glaucoma']:,}", f"{f['glaucoma_share']:.1%}", *labels[key]])
    return {"columns": ["Data set", "Images", "Patients", "Glaucoma", "Share", "Label from",
                        "Role here"], "rows": rows}


# --------------------------------------------------------------------------- the reproduction


def reproduction_values(records: dict) -> dict[str, dict]:
    """The original's report, the faithful and fixed runs and the improved model's seeds."""
    o, f = records["original"]["metrics"], records["fixed"]["metrics"]
    final = choose_final(records["improved"])
    seeds = seed_summary(records["improved"])
    repro = o["true_labels"]
    return {
        "original": {"train_acc": ORIGINAL_REPORTED["train_acc_per_epoch"],
                     "test_acc": ORIGINAL_REPORTED["test_acc_per_epoch"],
                     "final_acc": ORIGINAL_REPORTED["final_test_acc"]},
        "repro": {"auc": _test_estimate(repro), "accuracy": repro["accuracy"],
                  "always_healthy": repro["always_healthy_accuracy"],
                  "auc_width": repro["auc_ci_high"] - repro["auc_ci_low"],
                  "always_healthy_as_original":
                      o["original_final_accuracy"]["always_healthy_accuracy"],
                  "final_scored": o["original_final_accuracy"]["scored"],
                  "wrong_label_train": o["pairing"]["train"]["n_other_image_label"],
                  "wrong_class_train": o["pairing"]["train"]["n_wrong_class"],
                  "per_epoch_always_healthy": o["always_healthy_per_epoch"]},
        "fixed": {"auc": _test_estimate(f["true_labels"]), "accuracy":
                  f["true_labels"]["accuracy"]},
        "improved": {"auc": _test_estimate(final["metrics"]["test"]), "seed": final["seed"],
                     "seeds": len(records["improved"]),
                     "accuracy": final["metrics"]["test"]["accuracy"],
                     "auc_sd": float(seeds.loc["std", "auc"])},
    }


def reproduction_table(values: dict) -> dict:
    o, r, f, i = (values[k] for k in ("original", "repro", "fixed", "improved"))
    healthy = f"{r['always_healthy']:.1%}"
    rows = [
        ["Original report", f"{o['final_acc']:.2%}",
         f"{r['always_healthy_as_original']:.2%} (its scoring)", "not computed"],
        ["Faithful reproduction", f"{r['accuracy']:.1%}", healthy, _auc_cell(r["auc"])],
        ["Fixed pipeline", f"{f['accuracy']:.1%}", healthy, _auc_cell(f["auc"])],
        [f"Disc-crop texture model (seed {i['seed']})", f"{i['accuracy']:.1%}", healthy,
         _auc_cell(i["auc"])],
    ]
    return {"columns": ["On G1020's test split", "Accuracy", "Always healthy",
                        "ROC AUC (95% CI)"], "rows": rows}


# ------------------------------------------------------------------------ the positive control


def control_values(record: dict | None) -> dict:
    if record is None:
        return {}
    out = {}
    for name, rows in record["metrics"]["cv"].items():
        row = next(r for r in rows if r["pipeline"] == NESTED)
        out[DATA_KEYS.get(name, name)] = estimate(row["pooled AUC"], row["pooled CI low"],
                                                  row["pooled CI high"])
    return {"control": out}


# ------------------------------------------------------------------- where the signal is (09)


def _by_key(name: str) -> str:
    return DATA_KEYS.get(name.removesuffix(" test split"), name)


def signal_values(record: dict | None) -> dict:
    """The where-is-the-signal table, the vCDR, the label sensitivity, the blocks and the
    across-data-set scores of notebook 09's record."""
    if record is None:
        return {}
    m = record["metrics"]
    signal: dict[str, dict] = {}
    for row in m["signal"]:
        key = next((k for k, v in SIGNAL_ROWS.items() if v == row["model and input"]), None)
        if key is not None:
            signal.setdefault(_by_key(row["data set"]), {})[key] = estimate(
                row["AUC"], row["low"], row["high"])
    config = GapCnnConfig.from_dict(record["config"]["cnn"])
    out: dict[str, Any] = {"signal": signal, "cnn": {
        "epochs": config.epochs, "weights": config.network_config(0).parameter_count(),
        "original_weights": NetworkConfig().parameter_count()}}
    scored = {r["images"]: r for r in m["vcdr"] if r["handling"] == "no cup outline scored 0"}
    aside = {r["images"]: r for r in m["vcdr"] if r["handling"] == "no cup outline set aside"}
    if "all" in scored and "test" in scored:
        out["vcdr"] = {"annotated": estimate(*(scored["all"][k] for k in ("AUC", "low", "high"))),
                       "annotated_n": int(scored["all"]["annotated"]),
                       "test": estimate(*(scored["test"][k] for k in ("AUC", "low", "high"))),
                       "test_n": int(scored["test"]["annotated"]),
                       "no_cup_n": int(scored["all"]["annotated"] - aside["all"]["annotated"])}
    labels = [r for r in m["labels"] if r["set aside"] != "none"]
    if labels:
        base = {r["model"]: r["AUC"] for r in m["labels"] if r["set aside"] == "none"}
        out["labels"] = {"max_change": max(abs(r["AUC"] - base[r["model"]]) for r in labels)}
    if m.get("blocks"):
        b = m["blocks"]
        out["blocks"] = {"patients": b["patients"], "patients_cut": b["patients cut"],
                         "patients_whole": b["patients"] - b["patients cut"],
                         "images_cut": b["images of cut patients"],
                         "auc": estimate(*(b["texture AUC"][k] for k in ("AUC", "low", "high")))}
    across: dict[str, dict] = {}
    g1020 = []
    for row in m["across"]:
        model = MODEL_KEYS.get(row["model"], row["model"])
        source, target = _by_key(row["trained on"]), _by_key(row["scored on"])
        e = estimate(row["AUC"], row["low"], row["high"])
        if source == target:
            across.setdefault("g1020_test", {})[model] = e
        else:
            across.setdefault(model, {})[f"{source}_{target}"] = e
            if "g1020" in (source, target):
                g1020.append(e["value"])
    if g1020:
        across.update(g1020_low=min(g1020), g1020_high=max(g1020))
    out["across"] = across
    return out


def signal_table(values: dict) -> dict:
    present = [k for k in ("airogs", "g1020", "hygd") if k in values["signal"]]
    rows = [[SIGNAL_ROWS[row]] + [_auc_cell(values["signal"][k].get(row)) for k in present]
            for row in SIGNAL_ROWS]
    return {"columns": ["Model and input", *(SHORT_NAMES[k] for k in present)], "rows": rows}


def clinical_table(record: dict) -> dict:
    rows = [[r["images"], f"{r['annotated']:,}", f"{r['glaucoma']:,}", r["handling"],
             _auc_cell(estimate(r["AUC"], r["low"], r["high"]))]
            for r in record["metrics"]["vcdr"]]
    return {"columns": ["Images", "Annotated", "Glaucoma", "Images without a cup outline",
                        "vCDR ROC AUC (95% CI)"], "rows": rows}


def across_table(record: dict) -> dict:
    rows = [[r["model"], r["trained on"].replace("EyePACS-", ""),
             r["scored on"].replace("EyePACS-", ""), f"{r['images']:,}",
             _auc_cell(estimate(r["AUC"], r["low"], r["high"]))]
            for r in record["metrics"]["across"]]
    return {"columns": ["Model", "Trained on", "Scored on", "Images", "ROC AUC (95% CI)"],
            "rows": rows}


# ------------------------------------------------------------------------------------ together


def paper_values(records: dict, facts: dict, examples: dict[str, dict] | None = None) -> dict:
    """Every named value of the paper and its tables (what the build fills paper.md with);
    ``examples`` (example_inputs) name the photographs of the paper's figure of inputs."""
    values: dict[str, Any] = {"data": facts, **reproduction_values(records),
                              "examples": {k: {"image": e["id"]} for k, e in
                                           (examples or {}).items()},
                              **control_values(records["control"]),
                              **signal_values(records["signal"])}
    tables = {"data": data_table(facts), "reproduction": reproduction_table(values)}
    if records["signal"] is not None:
        tables.update(signal=signal_table(values), clinical=clinical_table(records["signal"]),
                      across=across_table(records["signal"]))
    values["tables"] = tables
    return values


def _flatten(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(tree, dict) and set(tree) != {"value", "low", "high"}:
        return [item for k, v in tree.items() for item in _flatten(v, f"{prefix}{k}.")]
    return [(prefix.rstrip("."), tree)]


def value_listing(values: dict) -> pd.DataFrame:
    """Every named value except the tables, as the paper would print it (name, value)."""
    rows = []
    for name, v in _flatten({k: v for k, v in values.items() if k != "tables"}):
        if isinstance(v, dict):
            shown = _auc_cell(v)
        elif isinstance(v, float):
            shown = f"{v:.4f}"
        else:
            shown = f"{v}"
        rows.append({"name": name, "value": shown})
    return pd.DataFrame(rows)


def example_inputs(folders: dict[str, str | os.PathLike]) -> dict[str, dict]:
    """For the paper's figure of what each model sees: per data set (key -> folder), its first
    glaucoma photograph by image number, with the centres of the CNN's disc crop and off-disc
    crop (native pixels) and the crop side."""
    side = GapCnnConfig().crop_size
    out = {}
    for key, folder in folders.items():
        labels = read_labels(folder)
        first = labels.loc[labels["binaryLabels"] == 1, "imageID"].iloc[0]
        centres = {region: load_region_crops(folder, [first], region, side, 8)[1].iloc[0]
                   for region in ("disc", "off-disc")}
        out[key] = {"id": first, "image": read_image(image_path(folder, first)), "side": side,
                    **{region: (float(c["x"]), float(c["y"])) for region, c in centres.items()}}
    return out
