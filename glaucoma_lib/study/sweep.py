"""Small exploratory sweep of the improved model, scored by blocked 5-fold CV on the 800 training
images only (the test split is never read). Too slow for the report build: run it with
``make sweep`` / ``python -m glaucoma_lib.study.sweep`` (``--jobs N`` local processes or
``--scheduler tcp://HOST:PORT`` for a Dask cluster; the numbers are the same either way; a
scheduler that is malformed, does not answer or has no workers is one line on stderr and exit
code 3, before any data are loaded). The table is committed under report/sweep/ with the data
checksum it was made on; notebook 06 shows it with that provenance.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from glaucoma_lib.data import split
from glaucoma_lib.data.loading import data_checksum, find_data_dir, is_synthetic
from glaucoma_lib.files import write_json
from glaucoma_lib.models.disc_model import DiscData, DiscModelConfig, load_disc_data_sets
from glaucoma_lib.nn.atomic import atomic_write
from glaucoma_lib.paths import REPORT_DIR
from glaucoma_lib.study.experiments import cv_fold, cv_table, cv_tasks
from glaucoma_lib.tasks import (
    EXIT_SCHEDULER,
    SCHEDULER_ENV,
    SchedulerError,
    check_scheduler,
    run_tasks,
)

SWEEP_FILE = "improved_sweep.csv"

CNN_160 = {"scorer": "cnn", "crop_size": 160}  # the first design: CNN only, 160 px crops
CANDIDATES: dict[str, dict] = {
    "base": CNN_160,
    "crop128": {**CNN_160, "crop_size": 128},
    "crop224": {**CNN_160, "crop_size": 224},
    "input48": {**CNN_160, "input_size": 48},
    "wide": {**CNN_160, "channels": (16, 16, 32, 32, 64, 64)},
    "no_augment": {**CNN_160, "augment": False},
    "balanced_sampling": {**CNN_160, "balanced_sampling": True},
    "stack_features": {**CNN_160, "stack_features": True},
    "batch64_epochs10": {**CNN_160, "batch_size": 64, "epochs": 10},
    "cnn_crop96": {"scorer": "cnn", "crop_size": 96},
    "texture_crop96": {"scorer": "texture", "crop_size": 96},
    "stack_crop96": {"scorer": "stack", "crop_size": 96},
}


def sweep_path() -> Path:
    return REPORT_DIR / "sweep" / SWEEP_FILE


def saved_sweep(path: Path | None = None) -> tuple[pd.DataFrame, dict] | None:
    """The committed sweep table and its provenance (data checksum, seed, date), if there is one."""
    path = path or sweep_path()
    info_path = path.with_suffix(".json")
    if not (path.is_file() and info_path.is_file()):
        return None
    return pd.read_csv(path), json.loads(info_path.read_text())


def _sweep_fold(data: DiscData, config: DiscModelConfig, train: np.ndarray, test: np.ndarray,
                seed: int) -> tuple[tuple[np.ndarray, float], float]:
    """One (candidate, fold) unit: cv_fold's result and the seconds it took."""
    started = time.perf_counter()
    return cv_fold(data, config, train, test, seed), time.perf_counter() - started


def _longest_first(tasks: list[tuple], expected: list[float], jobs: int | None,
                   scheduler: str | None) -> list:
    """run_tasks with the units expected to take longest handed out first, so the last ones
    to start are short and the workers finish together; results in the tasks' own order."""
    order = sorted(range(len(tasks)), key=lambda i: -expected[i])  # stable: ties keep order
    results = run_tasks(_sweep_fold, [tasks[i] for i in order], jobs, scheduler)
    by_task = dict(zip(order, results, strict=True))
    return [by_task[i] for i in range(len(tasks))]


def run_sweep(data_dir=None, names: list[str] | None = None, seed: int = 0,
              out: Path | None = None, jobs: int | None = None,
              scheduler: str | None = None) -> pd.DataFrame:
    """Blocked-CV AUC of each candidate, every (candidate, fold) unit a task; the CSV keeps rows
    of candidates not rerun this time. "seconds" is the sum of a candidate's fold tasks. A named
    Dask scheduler is checked first (SchedulerError), before the data are loaded."""
    scheduler = check_scheduler(scheduler)
    data_dir, _ = find_data_dir(data_dir)
    out = out or sweep_path()
    names = names or list(CANDIDATES)
    checksum = data_checksum(data_dir)
    saved = saved_sweep(out)
    same_data = saved is not None and saved[1].get("data_checksum") == checksum
    rows = [r for r in saved[0].to_dict("records") if r["name"] not in names] if same_data else []
    configs = [replace(DiscModelConfig(), **CANDIDATES[name]) for name in names]
    previous = saved[0].set_index("name")["seconds"].to_dict() if same_data else {}
    units, tasks, expected = {}, [], []
    for name, config, (train, _) in zip(names, configs, load_disc_data_sets(data_dir, configs),
                                        strict=True):
        units[name] = (train.t, split.blocked_folds(len(train.t), 5))
        tasks += cv_tasks(train, config, units[name][1], seed)
        expected += [float(previous.get(name, 0.0))] * len(units[name][1])
    results = iter(_longest_first(tasks, expected, jobs, scheduler))
    for name, (t, folds) in units.items():
        done = [next(results) for _ in folds]
        table, _ = cv_table(t, folds, [fold for fold, _ in done])
        rows.append({"name": name, "cv_auc_mean": table["auc"].mean(),
                     "cv_auc_std": table["auc"].std(ddof=1),
                     "fold_aucs": " ".join(f"{a:.3f}" for a in table["auc"]),
                     "seconds": sum(seconds for _, seconds in done),
                     "config": str(CANDIDATES[name])})
        print(rows[-1], flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out, "w", newline="") as fh:
        pd.DataFrame(rows).to_csv(fh, index=False)
    write_json(out.with_suffix(".json"), {
        "seed": seed, "data_checksum": checksum, "synthetic": is_synthetic(data_dir),
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "rerun": names,
        "candidates": CANDIDATES})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"CSV to write (default: {sweep_path()})")
    parser.add_argument("--jobs", type=_positive, default=None,
                        help="local worker processes (default: every core)")
    parser.add_argument("--scheduler", default=None,
                        help=f"Dask scheduler, e.g. tcp://HOST:8786 (default: ${SCHEDULER_ENV})")
    parser.add_argument("names", nargs="*", help=f"candidates (default all): {list(CANDIDATES)}")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(CANDIDATES)
    if unknown:
        parser.error(f"unknown candidates {sorted(unknown)}; known: {list(CANDIDATES)}")
    try:
        run_sweep(args.data_dir, args.names or None, args.seed, args.out, args.jobs,
                  args.scheduler)
    except SchedulerError as err:
        print(f"sweep: {err}", file=sys.stderr)
        return EXIT_SCHEDULER
    return 0


def _positive(text: str) -> int:
    """argparse type: a whole number of at least 1, else a one-line usage error."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


if __name__ == "__main__":
    raise SystemExit(main())
