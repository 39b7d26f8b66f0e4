"""Trainer: the original's knobs, honest evaluation, exact resume after a crash or Ctrl-C.

Differences from deep-learning-from-scratch's common/trainer.py, each on purpose:
- mini-batches are a seeded permutation, one pass per epoch (ceil(N / batch) iterations,
  16 for 800 images in batches of 50, as the original's iter_per_epoch), instead of random
  draws with replacement;
- evaluation after every epoch on ALL given images; evaluate_sample_num_per_epoch=N
  reproduces the original's first-N-samples evaluation;
- the recorded batch loss is the one from the gradient's own forward pass (no extra pass);
- optional validation set, a validation score passed in (`scorer`, e.g. ROC AUC), best-epoch
  selection, checkpoints and resume (glaucoma_lib.nn.checkpoint).
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from glaucoma_lib.nn import checkpoint
from glaucoma_lib.nn.history import History
from glaucoma_lib.nn.network import DeepConvNet
from glaucoma_lib.nn.optim import make_optimizer

SELECT_BEST = {"val_auc": 1, "val_acc": 1, "val_loss": -1}  # +1: higher is better
Scorer = Callable[[np.ndarray, np.ndarray], float]  # (0/1 labels, class-1 probabilities) -> score


def _labels(t: np.ndarray) -> np.ndarray:
    return t.argmax(axis=1) if t.ndim == 2 else t.astype(np.int64)


def evaluate(network: DeepConvNet, x: np.ndarray, t: np.ndarray, sample_num: int | None = None,
             scorer: Scorer | None = None) -> tuple[float, float | None, float]:
    """(accuracy, scorer(labels, class-1 probability), loss) on x, or on its first `sample_num`
    images when given (the original's per-epoch evaluation). The score (the "auc" entries of
    a History, e.g. glaucoma_lib.metrics.roc_auc) is None without a scorer or with one class."""
    if sample_num is not None:
        x, t = x[:sample_num], t[:sample_num]
    labels = _labels(t)
    prob = network.predict_proba(x)
    accuracy = float((prob.argmax(axis=1) == labels).mean())
    two_classes = len(np.unique(labels)) == 2
    auc = scorer(labels, prob[:, 1]) if scorer is not None and two_classes else None
    weights = network.last_layer.class_weights
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, float)[labels]
    picked = np.clip(prob[np.arange(len(labels)), labels].astype(np.float64), 1e-12, 1.0)
    loss = float(-(w * np.log(picked)).sum() / w.sum())
    return accuracy, auc, loss


def evaluate_epochs(network: DeepConvNet, epoch_weights: list[dict[str, np.ndarray]],
                    x: np.ndarray, t: np.ndarray, sample_num: int | None = None,
                    scorer: Scorer | None = None) -> list[tuple]:
    """evaluate() with each epoch's weights (Trainer(keep_epoch_weights=True)): the per-epoch
    scores of a run, computed after it and elsewhere, the same numbers as during it."""
    scores = []
    for weights in epoch_weights:
        network.set_state_arrays(weights)
        scores.append(evaluate(network, x, t, sample_num, scorer))
    return scores


class Trainer:
    """Mini-batch training of a DeepConvNet; train() returns a History.

    keep_epoch_weights=True keeps a copy of the weights after every epoch (epoch_weights), so
    the per-epoch scores can be computed later, in other processes (evaluate_epochs).
    `scorer` gives the per-epoch score of each set (the History's "auc" entries, needed by
    select_best_by="val_auc"); the engine knows no metrics, so callers pass one in.
    """

    def __init__(
        self,
        network: DeepConvNet,
        x_train: np.ndarray,
        t_train: np.ndarray,
        x_test: np.ndarray | None = None,
        t_test: np.ndarray | None = None,
        epochs: int = 20,
        mini_batch_size: int = 100,
        optimizer: str = "SGD",
        optimizer_param: dict | None = None,
        evaluate_sample_num_per_epoch: int | None = None,
        x_val: np.ndarray | None = None,
        t_val: np.ndarray | None = None,
        seed: int = 0,
        verbose: bool = True,
        augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
        lr_schedule: Callable[[int], float] | None = None,
        select_best_by: str | None = None,
        checkpoint_path: str | os.PathLike | None = None,
        resume: bool = False,
        balanced_sampling: bool = False,
        score_train: bool = True,
        keep_epoch_weights: bool = False,
        scorer: Scorer | None = None,
    ):
        if select_best_by is not None:
            if select_best_by not in SELECT_BEST:
                raise ValueError(f"select_best_by must be one of {sorted(SELECT_BEST)} or None")
            if x_val is None:
                raise ValueError("select_best_by needs a validation set (x_val, t_val)")
            if select_best_by == "val_auc" and scorer is None:
                raise ValueError("select_best_by='val_auc' needs a scorer")
        if resume and checkpoint_path is None:
            raise ValueError("resume=True needs a checkpoint_path")
        self.network = network
        self.x_train, self.t_train = x_train, t_train
        # scoring the training set after every epoch costs about a third of an epoch
        train_set = (x_train, t_train) if score_train else (None, None)
        self.sets = {"train": train_set, "val": (x_val, t_val), "test": (x_test, t_test)}
        self.epochs, self.batch_size = epochs, mini_batch_size
        self.optimizer = make_optimizer(optimizer, **(optimizer_param or {"lr": 0.01}))
        self.evaluate_sample_num, self.scorer = evaluate_sample_num_per_epoch, scorer
        self.seed, self.verbose = seed, verbose
        self.augment, self.lr_schedule = augment, lr_schedule
        self.select_best_by = select_best_by
        self.checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
        self.resume, self.balanced_sampling = resume, balanced_sampling
        self.rng = np.random.default_rng(seed)
        self.iter_per_epoch = max(math.ceil(len(x_train) / mini_batch_size), 1)
        self.history = History(iter_per_epoch=self.iter_per_epoch, select_best_by=select_best_by)
        self.epoch, self.position = 0, 0  # completed epochs; completed batches of this epoch
        self.order = np.arange(0)
        self.best: dict[str, np.ndarray] | None = None
        self.epoch_weights: list[dict[str, np.ndarray]] | None = [] if keep_epoch_weights else None
        self._stop_requested = False

    # ---- one epoch --------------------------------------------------------------------------
    def _epoch_order(self) -> np.ndarray:
        """Sample indices for one epoch: a permutation, or class-balanced draws."""
        n = len(self.x_train)
        if not self.balanced_sampling:
            return self.rng.permutation(n)
        labels = _labels(self.t_train)
        classes = np.unique(labels)
        per_class = -(-n // len(classes))
        drawn = [self.rng.choice(np.flatnonzero(labels == c), per_class) for c in classes]
        return self.rng.permutation(np.concatenate(drawn))[:n]

    def train_step(self, index: np.ndarray) -> float:
        x_batch, t_batch = self.x_train[index], self.t_train[index]
        if self.augment is not None:
            x_batch = self.augment(x_batch, self.rng)
        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)
        return self.network.last_loss

    def evaluate(self, x: np.ndarray, t: np.ndarray) -> tuple[float, float | None, float]:
        return evaluate(self.network, x, t, self.evaluate_sample_num, self.scorer)

    def _end_epoch(self, seconds: float) -> None:
        h = self.history
        start = self.epoch * self.iter_per_epoch
        h.epoch_loss.append(float(np.mean(h.train_loss[start : start + self.iter_per_epoch])))
        h.lr.append(float(self.optimizer.lr))
        h.epoch_seconds.append(seconds)
        for name, (x, t) in self.sets.items():
            h.add_scores(name, self.evaluate(x, t) if x is not None else (None, None, None))
        if self.epoch_weights is not None:
            self.epoch_weights.append({k: v.copy() for k, v in self.network.state_arrays().items()})
        self.epoch += 1
        self.position = 0
        if self.select_best_by is not None:
            sign = SELECT_BEST[self.select_best_by]
            scores = getattr(h, self.select_best_by)
            best = None if h.best_epoch is None else scores[h.best_epoch - 1]
            # strict improvement: on ties the earlier (less trained) epoch stays
            if scores[-1] is not None and (best is None or sign * scores[-1] > sign * best):
                h.best_epoch = self.epoch
                self.best = {k: v.copy() for k, v in self.network.state_arrays().items()}

    # ---- main loop --------------------------------------------------------------------------
    def train(self) -> History:
        if self.resume and self.checkpoint_path.exists():
            self.load_checkpoint(self.checkpoint_path)
        previous_handler = self._catch_ctrl_c()
        bar = tqdm(
            total=self.epochs, initial=self.epoch, desc="epochs", unit="epoch",
            disable=not self.verbose, mininterval=1.0, leave=True,
        )
        try:
            while self.epoch < self.epochs and not self._stop_requested:
                self._run_epoch(bar)
        finally:
            bar.close()
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
        if self._stop_requested:
            self.history.interrupted = True
            if self.checkpoint_path is not None:
                self.save_checkpoint(self.checkpoint_path)
            return self.history
        if self.best is not None:
            self.network.set_state_arrays(self.best)
        return self.history

    def _run_epoch(self, bar: tqdm) -> None:
        started = time.perf_counter()
        if self.position == 0:
            if self.lr_schedule is not None:
                self.optimizer.lr = float(self.lr_schedule(self.epoch))
            self.order = self._epoch_order()
        while self.position < self.iter_per_epoch:
            b = self.position
            loss = self.train_step(self.order[b * self.batch_size : (b + 1) * self.batch_size])
            self.history.train_loss.append(loss)
            self.position += 1
            if self._stop_requested:
                return
        self._end_epoch(time.perf_counter() - started)
        if self.checkpoint_path is not None:
            self.save_checkpoint(self.checkpoint_path)
        h = self.history
        postfix = {"loss": h.epoch_loss[-1]}
        shown = ("train_acc", "val_acc", "val_auc", "test_acc")
        postfix.update({k: getattr(h, k)[-1] for k in shown if getattr(h, k)[-1] is not None})
        bar.set_postfix({k: f"{v:.3f}" for k, v in postfix.items()}, refresh=False)
        bar.update(1)

    def _catch_ctrl_c(self):
        """First Ctrl-C: finish the current batch, checkpoint, return. Second: abort at once."""
        if threading.current_thread() is not threading.main_thread():
            return None
        previous = signal.getsignal(signal.SIGINT) or signal.default_int_handler  # None: set in C

        def request_stop(signum, frame):
            self._stop_requested = True
            signal.signal(signal.SIGINT, previous)

        signal.signal(signal.SIGINT, request_stop)
        return previous

    # ---- checkpoints (glaucoma_lib.nn.checkpoint) ------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike) -> Path:
        return checkpoint.save_checkpoint(self, path)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        checkpoint.load_checkpoint(self, path)
