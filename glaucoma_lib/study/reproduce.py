"""The original study's two training runs, "as originally built" and "fixed", each with a record.

The faithful run reproduces the original's faults only through the library's named options
(pairing="listing_order", channel_order="hwc_reshape", 50 samples evaluated per epoch, and a final
accuracy over whole batches of 50 divided by all test images); the fixed run pairs by file name,
transposes, and evaluates every image. Both records state how many images got another image's
label and how many the wrong class. The two runs train side by side in the task pool's worker
processes (glaucoma_lib.tasks), one BLAS thread each: on the 2-core target machine that is about
twice as fast as one after the other, and a fixed thread count keeps every number bit-identical
from build to build.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from glaucoma_lib.data import split
from glaucoma_lib.data.loading import is_synthetic, load_glaucoma
from glaucoma_lib.metrics import roc_auc, truncated_batch_accuracy
from glaucoma_lib.nn.history import History
from glaucoma_lib.nn.network import DeepConvNet, NetworkConfig
from glaucoma_lib.nn.train import Trainer, evaluate_epochs
from glaucoma_lib.paths import models_dir
from glaucoma_lib.study.records import save_run
from glaucoma_lib.tasks import default_jobs, task_pool

QUICK_TRAIN, QUICK_TEST = 120, 40
SCORE_CHUNKS = 4  # chunks of epochs scored as separate tasks: enough to keep both cores busy


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


@dataclass
class RunData:
    """A run's images and labels as its spec pairs them, and the true label of every image."""

    x_train: np.ndarray
    t_train: np.ndarray
    train_ids: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    test_ids: np.ndarray
    true_train_ids: np.ndarray
    true_test_ids: np.ndarray
    label_of: dict[str, int]


def load_run_data(spec: RunSpec, settings: Settings) -> RunData:
    size = settings.image_size
    (_, true_train, true_train_ids), (_, true_labels, true_ids) = load_glaucoma(
        settings.data_dir, size, return_ids=True
    )
    (x_train, t_train, train_ids), (x_test, t_test, test_ids) = load_glaucoma(
        settings.data_dir, size, pairing=spec.pairing, channel_order=spec.channel_order,
        return_ids=True,
    )
    if settings.quick:
        x_train, t_train, train_ids = (a[:QUICK_TRAIN] for a in (x_train, t_train, train_ids))
        x_test, t_test, test_ids = (a[:QUICK_TEST] for a in (x_test, t_test, test_ids))
    label_of = dict(zip(np.r_[true_train_ids, true_ids], np.r_[true_train, true_labels],
                        strict=True))
    return RunData(x_train, t_train, train_ids, x_test, t_test, test_ids, true_train_ids,
                   true_ids, label_of)


def _epochs(settings: Settings) -> int:
    return min(settings.epochs, 2) if settings.quick else settings.epochs


def _network(settings: Settings) -> DeepConvNet:
    size = settings.image_size
    return DeepConvNet(config=NetworkConfig(input_dim=(3, size, size), seed=settings.seed))


def _train(spec: RunSpec, settings: Settings, data: RunData, network: DeepConvNet,
           score_later: bool) -> tuple[Trainer, float]:
    """Train; with score_later, keep each epoch's weights instead of scoring them now."""
    trainer = Trainer(
        network, data.x_train, data.t_train, None if score_later else data.x_test,
        data.t_test, epochs=_epochs(settings), mini_batch_size=settings.mini_batch_size,
        optimizer="Adam", optimizer_param={"lr": settings.lr},
        evaluate_sample_num_per_epoch=spec.evaluate_sample_num_per_epoch,
        seed=settings.seed, verbose=False, score_train=not score_later,
        keep_epoch_weights=score_later, scorer=roc_auc,
    )
    started = time.perf_counter()
    trainer.train()
    return trainer, time.perf_counter() - started


def train_run(run: str, spec: RunSpec, settings: Settings, models_root: str) -> dict[str, Any]:
    """Load, train with one BLAS thread, save weights + history + run record; return the record."""
    with threadpool_limits(limits=1):
        data = load_run_data(spec, settings)
        network = _network(settings)
        trainer, seconds = _train(spec, settings, data, network, score_later=False)
        return _save(run, spec, settings, models_root, data, network, trainer.history, seconds)


def train_weights(spec: RunSpec, settings: Settings) -> tuple[History, list[dict], float]:
    """A task: train without per-epoch scores; (history, each epoch's weights, seconds)."""
    with threadpool_limits(limits=1):
        data = load_run_data(spec, settings)
        trainer, seconds = _train(spec, settings, data, _network(settings), score_later=True)
        return trainer.history, trainer.epoch_weights, seconds


def score_weights(spec: RunSpec, settings: Settings, epoch_weights: list[dict]) -> list[tuple]:
    """A task: (train scores, test scores) of each epoch's weights, as Trainer would score them."""
    with threadpool_limits(limits=1):
        data = load_run_data(spec, settings)
        network, n = _network(settings), spec.evaluate_sample_num_per_epoch
        return list(zip(
            evaluate_epochs(network, epoch_weights, data.x_train, data.t_train, n, roc_auc),
            evaluate_epochs(network, epoch_weights, data.x_test, data.t_test, n, roc_auc),
            strict=True))


def _save(run: str, spec: RunSpec, settings: Settings, models_root: str, data: RunData,
          network: DeepConvNet, history: History, seconds: float) -> dict[str, Any]:
    """Score the test split with the final weights and write the run folder; the record."""
    proba = network.predict_proba(data.x_test)
    pairing = {
        "train": pairing_counts(data.true_train_ids[:len(data.train_ids)], data.train_ids,
                                data.label_of),
        "test": pairing_counts(data.true_test_ids[:len(data.test_ids)], data.test_ids,
                               data.label_of),
    }
    config = {**asdict(spec), **asdict(settings), "epochs": _epochs(settings),
              "optimizer": "Adam", "n_train": len(data.x_train), "n_test": len(data.x_test)}
    config.pop("data_dir")
    return save_run(
        Path(models_root) / run, network, history,
        test_ids=data.test_ids, test_labels=data.t_test,
        test_prob=proba[:, 1],
        true_test_labels=np.array([data.label_of[i] for i in data.test_ids]),
        train_labels=data.t_train,
        evaluated_per_epoch=spec.evaluate_sample_num_per_epoch,
        extra_metrics=run_metrics(spec, data.t_test, proba.argmax(axis=1), pairing),
        config=config, seed=settings.seed, data_dir=settings.data_dir,
        synthetic=is_synthetic(settings.data_dir), timings={"train_seconds": round(seconds, 1)},
    )


def train_runs(
    settings: Settings, runs: dict[str, RunSpec] = RUNS, models_root: Path | None = None,
    jobs: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Train every run, in `jobs` worker processes (default: every core); records by run name,
    the same with any number of jobs.

    A run that scores every image after every epoch (the fixed one) spends ~40% of its time
    scoring, so with more than one core it trains first and keeping each epoch's weights, and
    the scoring is then spread in chunks of epochs over whichever workers are free: the same
    numbers, sooner.
    """
    root = str(models_root if models_root is not None else models_dir())
    workers = min(len(runs), default_jobs(jobs))
    if workers == 1:
        return {run: train_run(run, spec, settings, root) for run, spec in runs.items()}
    later = [run for run, spec in runs.items() if spec.evaluate_sample_num_per_epoch is None]
    pool = task_pool(workers)
    whole = {run: pool.submit(train_run, run, spec, settings, root)
             for run, spec in runs.items() if run not in later}
    trained = {run: pool.submit(train_weights, runs[run], settings) for run in later}
    records = {}
    for run in later:
        history, weights, seconds = trained[run].result()
        chunks = [c for c in np.array_split(np.arange(len(weights)), SCORE_CHUNKS) if len(c)]
        parts = [pool.submit(score_weights, runs[run], settings, [weights[i] for i in c])
                 for c in chunks]
        scores = [epoch for part in parts for epoch in part.result()]
        history.set_scores("train", [train for train, _ in scores])
        history.set_scores("test", [test for _, test in scores])
        with threadpool_limits(limits=1):
            network = _network(settings)
            network.set_state_arrays(weights[-1])
            records[run] = _save(run, runs[run], settings, root,
                                 load_run_data(runs[run], settings), network, history, seconds)
    records.update({run: future.result() for run, future in whole.items()})
    return {run: records[run] for run in runs}
