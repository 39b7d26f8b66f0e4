"""The original study's two training runs, "as originally built" and "fixed", each with a record.

The faithful run reproduces the original's faults only through the library's named options
(pairing="listing_order", channel_order="hwc_reshape", 50 samples evaluated per epoch, and a final
accuracy over whole batches of 50 divided by all test images); the fixed run pairs by file name,
transposes, and evaluates every image. Both records state how many images got another image's
label and how many the wrong class. The two runs train side by
side in separate processes, one BLAS thread each: on the 2-core target machine that is about
twice as fast as one after the other, and a fixed thread count keeps every number bit-identical
from build to build.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from glaucoma_lib import split
from glaucoma_lib.data import is_synthetic, load_glaucoma
from glaucoma_lib.metrics import truncated_batch_accuracy
from glaucoma_lib.nn.network import DeepConvNet, NetworkConfig
from glaucoma_lib.nn.train import Trainer
from glaucoma_lib.paths import models_dir
from glaucoma_lib.records import save_run

QUICK_TRAIN, QUICK_TEST = 120, 40


@dataclass(frozen=True)
class RunSpec:
    """How the data reach the network and how it is scored.

    final_accuracy_batch: when set, the final test accuracy is also computed as the original
    did (metrics.truncated_batch_accuracy: whole batches of this size, divided by all images).
    """

    pairing: str
    channel_order: str
    evaluate_sample_num_per_epoch: int | None
    final_accuracy_batch: int | None = None


RUNS = {
    "repro_as_built": RunSpec("listing_order", "hwc_reshape", 50, final_accuracy_batch=50),
    "repro_fixed": RunSpec("by_name", "transpose", None),
}


def pairing_counts(label_ids: np.ndarray, image_ids: np.ndarray,
                   label_of: dict[str, int]) -> dict[str, int]:
    """How many images got another image's label row, and how many the wrong class, when image i
    is paired with the label of label_ids[i] (what the report says about the listing-order bug)."""
    return split.count_mislabelled(list(label_ids), list(image_ids), label_of)._asdict()


def run_metrics(spec: RunSpec, t_test: np.ndarray, pred: np.ndarray,
                pairing: dict[str, dict[str, int]]) -> dict:
    """The metrics a run adds to its record: label pairing per split and, for the faithful run,
    the final accuracy as the original computed it."""
    extra: dict = {"pairing": pairing}
    if spec.final_accuracy_batch is not None:
        extra["original_final_accuracy"] = truncated_batch_accuracy(
            t_test, pred, spec.final_accuracy_batch)
    return extra


@dataclass(frozen=True)
class Settings:
    """The original hyperparameters (Adam, lr 0.001, batch 50, 20 epochs, 64x64) by default."""

    data_dir: str
    image_size: int = 64
    epochs: int = 20
    mini_batch_size: int = 50
    lr: float = 0.001
    seed: int = 0
    quick: bool = False


def train_run(run: str, spec: RunSpec, settings: Settings, models_root: str) -> dict[str, Any]:
    """Load, train with one BLAS thread, save weights + history + run record; return the record."""
    with threadpool_limits(limits=1):
        size = settings.image_size
        (_, true_train, true_train_ids), (_, true_labels, true_ids) = load_glaucoma(
            settings.data_dir, size, return_ids=True
        )
        (x_train, t_train, train_ids), (x_test, t_test, test_ids) = load_glaucoma(
            settings.data_dir, size, pairing=spec.pairing, channel_order=spec.channel_order,
            return_ids=True,
        )
        epochs = min(settings.epochs, 2) if settings.quick else settings.epochs
        if settings.quick:
            x_train, t_train, train_ids = (a[:QUICK_TRAIN] for a in (x_train, t_train, train_ids))
            x_test, t_test, test_ids = (a[:QUICK_TEST] for a in (x_test, t_test, test_ids))
        network = DeepConvNet(config=NetworkConfig(input_dim=(3, size, size), seed=settings.seed))
        trainer = Trainer(
            network, x_train, t_train, x_test, t_test, epochs=epochs,
            mini_batch_size=settings.mini_batch_size, optimizer="Adam",
            optimizer_param={"lr": settings.lr},
            evaluate_sample_num_per_epoch=spec.evaluate_sample_num_per_epoch,
            seed=settings.seed, verbose=False,
        )
        started = time.perf_counter()
        history = trainer.train()
        seconds = time.perf_counter() - started
        label_of = dict(zip(np.r_[true_train_ids, true_ids], np.r_[true_train, true_labels],
                            strict=True))
        proba = network.predict_proba(x_test)
        pairing = {"train": pairing_counts(true_train_ids[:len(train_ids)], train_ids, label_of),
                   "test": pairing_counts(true_ids[:len(test_ids)], test_ids, label_of)}
        config = {**asdict(spec), **asdict(settings), "epochs": epochs, "optimizer": "Adam",
                  "n_train": len(x_train), "n_test": len(x_test)}
        config.pop("data_dir")
        return save_run(
            Path(models_root) / run, network, history,
            test_ids=test_ids, test_labels=t_test,
            test_prob=proba[:, 1],
            true_test_labels=np.array([label_of[i] for i in test_ids]),
            train_labels=t_train,
            evaluated_per_epoch=spec.evaluate_sample_num_per_epoch,
            extra_metrics=run_metrics(spec, t_test, proba.argmax(axis=1), pairing),
            config=config, seed=settings.seed, data_dir=settings.data_dir,
            synthetic=is_synthetic(settings.data_dir), timings={"train_seconds": round(seconds, 1)},
        )


def train_runs(
    settings: Settings, runs: dict[str, RunSpec] = RUNS, models_root: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Train every run, in parallel processes when there are cores for it; records by run name."""
    root = str(models_root if models_root is not None else models_dir())
    workers = max(1, min(len(runs), os.cpu_count() or 1))
    context = multiprocessing.get_context("spawn")  # no fork of a kernel with live BLAS threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {run: pool.submit(train_run, run, spec, settings, root)
                   for run, spec in runs.items()}
        return {run: future.result() for run, future in futures.items()}
