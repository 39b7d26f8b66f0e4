"""Run records: one JSON per training run, beside its weights; the report reads its tables here.

A record pins everything needed to trust or repeat a number: configuration, seed, data checksum,
library versions, threads and BLAS, git commit, metrics, per-epoch history and timings.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .atomic import atomic_write
from .metrics import always_healthy_accuracy, screening_summary

RECORD_FILE = "run_record.json"
WEIGHTS_FILE = "weights.npz"
HISTORY_FILE = "history.json"
REPORTED_PACKAGES = (
    "numpy", "pandas", "pillow", "matplotlib", "seaborn", "papermill", "nbconvert", "scikit-learn",
)
_PROJECT_ROOT = Path(__file__).resolve().parent.parent

# What the original study reported (shared/seed/original_report_ko.txt), typed once here so the
# report compares against it; our own numbers always come from run records.
ORIGINAL_REPORTED = {
    "train_acc_per_epoch": 0.78,
    "test_acc_per_epoch": 0.74,
    "epoch_loss": (0.6521, 0.6604, 0.6604, 0.6713, 0.6360, 0.6559, 0.6444, 0.6372, 0.6548,
                   0.6263, 0.6224, 0.6367, 0.6510, 0.6401, 0.6282, 0.6464, 0.6289, 0.6459,
                   0.6268, 0.6485),
    "final_test_acc": 0.6864,
    "always_healthy_acc": 0.714,
    "samples_evaluated_per_epoch": 50,
}


def models_dir() -> Path:
    """$GLAUCOMA_MODELS_DIR (tests point it at a temp folder) or git-ignored <project>/models."""
    env = os.environ.get("GLAUCOMA_MODELS_DIR")
    return Path(env) if env else _PROJECT_ROOT / "models"


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages whose behaviour can change a reported number."""
    versions = {"python": platform.python_version()}
    for name in REPORTED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def runtime_info() -> dict[str, Any]:
    """Threads and BLAS in use: float sums can differ across thread counts and BLAS builds."""
    from threadpoolctl import threadpool_info

    pools = [
        {
            "library": p.get("internal_api"),
            "api": p.get("user_api"),
            "version": p.get("version"),
            "threads": p.get("num_threads"),
        }
        for p in threadpool_info()
    ]
    blas = [p for p in pools if p["api"] == "blas"]
    return {
        "cpu_count": os.cpu_count(),
        "blas": ", ".join(f"{p['library']} {p['version']}" for p in blas) or "none detected",
        "blas_threads": max((p["threads"] for p in blas), default=None),
        "threadpools": pools,
        "platform": platform.platform(),
        "executable": sys.executable,
    }


def git_commit(repo: Path = _PROJECT_ROOT) -> str | None:
    """Commit hash of the code that produced a run, '+dirty' when uncommitted changes exist."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}+dirty" if dirty else head


def _to_json(value: Any) -> Any:
    """NumPy scalars and arrays as plain JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a run record")


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write JSON via a temp file in the same folder and os.replace: never half written."""
    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, default=_to_json, allow_nan=True)
        fh.write("\n")
    return path


def write_run_record(
    run_dir: Path | str,
    *,
    config: dict[str, Any],
    seed: int,
    data_checksum: str,
    metrics: dict[str, Any],
    history: dict[str, Any] | None = None,
    timings: dict[str, float] | None = None,
    synthetic: bool = False,
    data_dir: Path | str | None = None,
    notes: str = "",
) -> Path:
    """Write <run_dir>/run_record.json; returns its path. Metrics must not depend on wall time."""
    run_dir = Path(run_dir)
    record = {
        "run": run_dir.name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": config,
        "seed": seed,
        "data": {
            "dir": str(data_dir) if data_dir is not None else None,
            "synthetic": bool(synthetic),
            "checksum": data_checksum,
        },
        "metrics": metrics,
        "history": history or {},
        "timings": timings or {},
        "versions": package_versions(),
        "runtime": runtime_info(),
        "git_commit": git_commit(),
        "notes": notes,
    }
    return write_json_atomic(run_dir / RECORD_FILE, record)


def save_run(
    run_dir: Path | str,
    network: Any,
    history: Any,
    *,
    test_ids: np.ndarray,
    test_labels: np.ndarray,
    test_prob: np.ndarray,
    true_test_labels: np.ndarray | None = None,
    train_labels: np.ndarray | None = None,
    true_train_labels: np.ndarray | None = None,
    evaluated_per_epoch: int | None = None,
    config: dict[str, Any],
    seed: int,
    data_dir: Path | str,
    synthetic: bool,
    timings: dict[str, float] | None = None,
    notes: str = "",
) -> dict[str, Any]:
    """Save weights.npz, history.json and the run record for one trained network; return the record.

    test_labels are the labels the run was scored against (for a faithful reproduction of the
    original, its mispaired ones); true_test_labels, when they differ, are the labels by file
    name, so the record holds both the number the pipeline would print and the true one.
    The always-healthy baselines are stored for exactly the images each accuracy was measured on
    (the first evaluated_per_epoch of each split, or all of them).
    """
    from .data import data_checksum

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    network.save_params(run_dir / WEIGHTS_FILE, extra_metadata={"run": run_dir.name})
    history.to_json(run_dir / HISTORY_FILE)
    true_labels = test_labels if true_test_labels is None else true_test_labels
    subset = slice(evaluated_per_epoch)
    baselines = {"test_evaluated": always_healthy_accuracy(np.asarray(test_labels)[subset])}
    if train_labels is not None:
        baselines["train_evaluated"] = always_healthy_accuracy(np.asarray(train_labels)[subset])
    run_metrics = {
        "always_healthy_per_epoch": baselines,
        "as_scored": screening_summary(test_labels, test_prob),
        "true_labels": screening_summary(true_labels, test_prob),
        "label_agreement": float(np.mean(np.asarray(test_labels) == np.asarray(true_labels))),
        "train_label_agreement": (
            None if train_labels is None or true_train_labels is None
            else float(np.mean(np.asarray(train_labels) == np.asarray(true_train_labels)))
        ),
        "final_train_acc": history.train_acc[-1] if history.train_acc else None,
        "final_test_acc_per_epoch_eval": history.test_acc[-1] if history.test_acc else None,
        "predictions": {
            "image_id": [str(i) for i in test_ids],
            "label_scored": np.asarray(test_labels).tolist(),
            "label_true": np.asarray(true_labels).tolist(),
            "prob_glaucoma": np.round(np.asarray(test_prob, dtype=np.float64), 6).tolist(),
        },
    }
    write_run_record(
        run_dir, config=config, seed=seed, data_checksum=data_checksum(data_dir),
        metrics=run_metrics, history=json.loads(history.to_json()), timings=timings,
        synthetic=synthetic, data_dir=data_dir, notes=notes,
    )
    return read_run_record(run_dir)


def read_run_record(run_dir: Path | str) -> dict[str, Any]:
    """Load a run record; a missing or broken file gets a message naming the run and the fix."""
    path = Path(run_dir) / RECORD_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"no run record at {path}: train the run first (notebook 04 or `make report`)"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"run record {path} is not valid JSON: {err}") from err
    if not isinstance(record, dict) or "metrics" not in record:
        raise ValueError(f"run record {path} lacks a 'metrics' entry")
    return record


def history_frame(record: dict[str, Any]) -> pd.DataFrame:
    """Per-epoch table (epoch, mean loss, accuracies, AUCs) of a run record."""
    history = record["history"]
    columns = ["epoch_loss", "train_acc", "val_acc", "test_acc", "train_auc", "val_auc", "test_auc"]
    frame = pd.DataFrame({c: history.get(c) or [None] * len(history["epoch_loss"])
                          for c in columns})
    frame = frame.dropna(axis=1, how="all").astype(float)
    frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    return frame


def iteration_loss_frame(record: dict[str, Any]) -> pd.DataFrame:
    """Every mini-batch loss as an epoch x iteration table (16 columns on G1020: 800 / 50)."""
    history = record["history"]
    per_epoch = int(history["iter_per_epoch"])
    loss = np.asarray(history["train_loss"], dtype=np.float64)
    n_epochs = loss.size // per_epoch
    frame = pd.DataFrame(
        loss[: n_epochs * per_epoch].reshape(n_epochs, per_epoch),
        index=pd.RangeIndex(1, n_epochs + 1, name="epoch"),
        columns=[f"it{i}" for i in range(1, per_epoch + 1)],
    )
    frame["mean"] = frame.mean(axis=1)
    return frame


def _pct(value: float | None) -> str:
    return "not measured" if value is None or np.isnan(value) else f"{100 * value:.2f}%"


def _span(values: list, percent: bool = True) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "not measured"
    low, high = min(values), max(values)
    fmt = _pct if percent else (lambda v: f"{v:.4f}")
    return fmt(low) if low == high else f"{fmt(low)} – {fmt(high)}"


def _run_column(record: dict[str, Any]) -> list[str]:
    h, m = record["history"], record["metrics"]
    scored, true = m["as_scored"], m["true_labels"]
    evaluated = record["config"].get("evaluate_sample_num_per_epoch")
    return [
        _span(h["train_acc"]),
        _span(h["test_acc"]),
        _span(h["epoch_loss"], percent=False),
        f"{evaluated} of each split" if evaluated else "all images",
        _pct(scored["accuracy"]),
        _pct(scored["always_healthy_accuracy"]),
        _pct(m.get("train_label_agreement")),
        _pct(m["label_agreement"]),
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
        _span(list(rep["epoch_loss"]), percent=False),
        f"{rep['samples_evaluated_per_epoch']} of each split",
        _pct(rep["final_test_acc"]),
        _pct(rep["always_healthy_acc"]),
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
        "final test accuracy, all test images (labels as paired)",
        "always-healthy accuracy (labels as paired)",
        "training labels that belong to their image",
        "test labels that belong to their image",
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


def list_runs(models_root: Path | str | None = None) -> list[dict[str, Any]]:
    """Every run record under models_root (default models_dir()), sorted by run name."""
    root = Path(models_root) if models_root is not None else models_dir()
    if not root.is_dir():
        return []
    return [read_run_record(p.parent) for p in sorted(root.glob(f"*/{RECORD_FILE}"))]
