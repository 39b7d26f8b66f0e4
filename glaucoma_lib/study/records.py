"""Run records: one JSON per training run, beside its weights; the report reads its numbers here.

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
from threadpoolctl import threadpool_info

from glaucoma_lib.data.datasets import dataset_of
from glaucoma_lib.data.loading import data_checksum
from glaucoma_lib.files import write_json
from glaucoma_lib.metrics import always_healthy_accuracy, screening_summary
from glaucoma_lib.paths import PROJECT_ROOT, models_dir

RECORD_FILE = "run_record.json"
WEIGHTS_FILE = "weights.npz"
HISTORY_FILE = "history.json"
REPORTED_PACKAGES = (
    "numpy", "pandas", "pillow", "matplotlib", "seaborn", "papermill", "nbconvert", "scikit-learn",
)

def package_versions() -> dict[str, str]:
    """Versions of Python and the packages whose behaviour can change a reported number."""
    versions = {"python": platform.python_version()}
    for name in REPORTED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The processor's name: it picks OpenBLAS's kernel, and build seconds depend on it."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _blas_name(pool: dict) -> str:
    kernel = f" ({pool['kernel']} kernel)" if pool["kernel"] else ""
    return f"{pool['library']} {pool['version']}{kernel}"


def runtime_info() -> dict[str, Any]:
    """Processor, threads and BLAS in use: float sums differ across thread counts, BLAS builds
    and kernels, and twenty epochs of training amplify the differences."""
    pools = [
        {
            "library": p.get("internal_api"),
            "api": p.get("user_api"),
            "version": p.get("version"),
            "kernel": p.get("architecture"),
            "threads": p.get("num_threads"),
        }
        for p in threadpool_info()
    ]
    blas = [p for p in pools if p["api"] == "blas"]
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "blas": ", ".join(_blas_name(p) for p in blas) or "none detected",
        "blas_threads": max((p["threads"] for p in blas), default=None),
        "threadpools": pools,
        "platform": platform.platform(),
        "executable": sys.executable,
    }


def git_commit(repo: Path = PROJECT_ROOT) -> str | None:
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
            "name": None if data_dir is None else dataset_of(data_dir).name,
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
    return write_json(run_dir / RECORD_FILE, record, default=_to_json)


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
    evaluated_per_epoch: int | None = None,
    extra_metrics: dict[str, Any] | None = None,
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
    (the first evaluated_per_epoch of each split, or all of them). extra_metrics (for instance
    how the labels were paired, or the original's own final accuracy) are stored as given.
    """
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
        "final_train_acc": history.train_acc[-1] if history.train_acc else None,
        "final_test_acc_per_epoch_eval": history.test_acc[-1] if history.test_acc else None,
        "predictions": {
            "image_id": [str(i) for i in test_ids],
            "label_scored": np.asarray(test_labels).tolist(),
            "label_true": np.asarray(true_labels).tolist(),
            "prob_glaucoma": np.round(np.asarray(test_prob, dtype=np.float64), 6).tolist(),
        },
        **(extra_metrics or {}),
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


def list_runs(models_root: Path | str | None = None) -> list[dict[str, Any]]:
    """Every run record under models_root (default models_dir()), sorted by run name."""
    root = Path(models_root) if models_root is not None else models_dir()
    if not root.is_dir():
        return []
    return [read_run_record(p.parent) for p in sorted(root.glob(f"*/{RECORD_FILE}"))]
