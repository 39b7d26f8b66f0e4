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
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

RECORD_FILE = "run_record.json"
REPORTED_PACKAGES = (
    "numpy", "pandas", "pillow", "matplotlib", "seaborn", "papermill", "nbconvert", "scikit-learn",
)
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, default=_to_json, allow_nan=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
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


def list_runs(models_root: Path | str | None = None) -> list[dict[str, Any]]:
    """Every run record under models_root (default models_dir()), sorted by run name."""
    root = Path(models_root) if models_root is not None else models_dir()
    if not root.is_dir():
        return []
    return [read_run_record(p.parent) for p in sorted(root.glob(f"*/{RECORD_FILE}"))]
