"""Trainer: the original's knobs, honest evaluation, exact resume after a crash or Ctrl-C.

Differences from deep-learning-from-scratch's common/trainer.py, each on purpose:
- mini-batches are a seeded permutation, one pass per epoch (ceil(N / batch) iterations,
  16 for 800 images in batches of 50, as the original's iter_per_epoch), instead of random
  draws with replacement;
- evaluation after every epoch on ALL given images; evaluate_sample_num_per_epoch=N
  reproduces the original's first-N-samples evaluation;
- the recorded batch loss is the one from the gradient's own forward pass (no extra pass);
- optional validation set, ROC AUC, best-epoch selection, checkpoints and resume.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from glaucoma_lib.files import (
    WeightsError,
    atomic_write,
    json_entry,
    read_json_entry,
    read_npz,
    require_dict,
    require_int,
    require_number,
    save_npz,
)
from glaucoma_lib.metrics import roc_auc
from glaucoma_lib.nn.network import DeepConvNet
from glaucoma_lib.nn.optim import make_optimizer

SELECT_BEST = {"val_auc": 1, "val_acc": 1, "val_loss": -1}  # +1: higher is better
STATE_KEY = "__state__"
MAX_STATE_BYTES = 64 * 2**20  # the history grows with the iterations: ~20 bytes per loss


@dataclass
class History:
    """Per-iteration and per-epoch training records; val/test entries are None when absent."""

    train_loss: list[float] = field(default_factory=list)  # every iteration
    epoch_loss: list[float] = field(default_factory=list)  # mean batch loss of each epoch
    train_acc: list[float | None] = field(default_factory=list)
    val_acc: list[float | None] = field(default_factory=list)
    test_acc: list[float | None] = field(default_factory=list)
    train_auc: list[float | None] = field(default_factory=list)
    val_auc: list[float | None] = field(default_factory=list)
    test_auc: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    test_loss: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    iter_per_epoch: int = 0
    select_best_by: str | None = None
    best_epoch: int | None = None  # 1-based epoch whose weights the network ends with
    interrupted: bool = False

    @property
    def epochs_completed(self) -> int:
        return len(self.epoch_loss)

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """JSON text; also written atomically to `path` when given."""
        text = json.dumps(asdict(self), indent=1)
        if path is not None:
            with atomic_write(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> History:
        """From JSON text or from a file path."""
        text = str(source)
        if isinstance(source, os.PathLike) or not text.lstrip().startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        return cls(**json.loads(text))

    def add_scores(self, name: str, scores: tuple[float | None, float | None, float | None]
                   ) -> None:
        """Append one epoch's (accuracy, AUC, loss) of the set `name` (train has no loss)."""
        acc, auc, loss = scores
        getattr(self, f"{name}_acc").append(acc)
        getattr(self, f"{name}_auc").append(auc)
        if name != "train":
            getattr(self, f"{name}_loss").append(loss)

    def set_scores(self, name: str, scores: list[tuple]) -> None:
        """Replace the per-epoch scores of the set `name` (evaluate_epochs computed them)."""
        for field_name in ("acc", "auc") if name == "train" else ("acc", "auc", "loss"):
            setattr(self, f"{name}_{field_name}", [])  # train_loss is per batch, not a score
        for epoch in scores:
            self.add_scores(name, epoch)

    def to_frame(self) -> pd.DataFrame:
        """One row per epoch (1-based index "epoch")."""
        columns = ["epoch_loss", "train_acc", "val_acc", "test_acc", "train_auc", "val_auc",
                   "test_auc", "val_loss", "test_loss", "lr", "epoch_seconds"]
        frame = pd.DataFrame({c: pd.array(getattr(self, c), dtype="Float64") for c in columns})
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
        return frame


def _labels(t: np.ndarray) -> np.ndarray:
    return t.argmax(axis=1) if t.ndim == 2 else t.astype(np.int64)


def evaluate(network: DeepConvNet, x: np.ndarray, t: np.ndarray, sample_num: int | None = None
             ) -> tuple[float, float | None, float]:
    """(accuracy, ROC AUC of the class-1 probability or None if one class, loss) on x, or on
    its first `sample_num` images when given (the original's per-epoch evaluation)."""
    if sample_num is not None:
        x, t = x[:sample_num], t[:sample_num]
    labels = _labels(t)
    prob = network.predict_proba(x)
    accuracy = float((prob.argmax(axis=1) == labels).mean())
    auc = roc_auc(labels, prob[:, 1]) if len(np.unique(labels)) == 2 else None
    weights = network.last_layer.class_weights
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, float)[labels]
    picked = np.clip(prob[np.arange(len(labels)), labels].astype(np.float64), 1e-12, 1.0)
    loss = float(-(w * np.log(picked)).sum() / w.sum())
    return accuracy, auc, loss


def evaluate_epochs(network: DeepConvNet, epoch_weights: list[dict[str, np.ndarray]],
                    x: np.ndarray, t: np.ndarray, sample_num: int | None = None) -> list[tuple]:
    """evaluate() with each epoch's weights (Trainer(keep_epoch_weights=True)): the per-epoch
    scores of a run, computed after it and elsewhere, the same numbers as during it."""
    scores = []
    for weights in epoch_weights:
        network.set_state_arrays(weights)
        scores.append(evaluate(network, x, t, sample_num))
    return scores


class Trainer:
    """Mini-batch training of a DeepConvNet; train() returns a History.

    keep_epoch_weights=True keeps a copy of the weights after every epoch (epoch_weights), so
    the per-epoch scores can be computed later, in other processes (evaluate_epochs).
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
    ):
        if select_best_by is not None:
            if select_best_by not in SELECT_BEST:
                raise ValueError(f"select_best_by must be one of {sorted(SELECT_BEST)} or None")
            if x_val is None:
                raise ValueError("select_best_by needs a validation set (x_val, t_val)")
        if resume and checkpoint_path is None:
            raise ValueError("resume=True needs a checkpoint_path")
        self.network = network
        self.x_train, self.t_train = x_train, t_train
        # scoring the training set after every epoch costs about a third of an epoch
        train_set = (x_train, t_train) if score_train else (None, None)
        self.sets = {"train": train_set, "val": (x_val, t_val), "test": (x_test, t_test)}
        self.epochs, self.batch_size = epochs, mini_batch_size
        self.optimizer = make_optimizer(optimizer, **(optimizer_param or {"lr": 0.01}))
        self.evaluate_sample_num = evaluate_sample_num_per_epoch
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
        return evaluate(self.network, x, t, self.evaluate_sample_num)

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

    # ---- checkpoints --------------------------------------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike) -> Path:
        """Weights, optimizer state, RNG states, history and position in one pickle-free .npz."""
        net = self.network
        scalars, optim_arrays = self.optimizer.state_dict()
        state = {
            "epoch": self.epoch,
            "position": self.position,
            "rng": self.rng.bit_generator.state,
            "dropout_rng": net.dropout_rng.bit_generator.state,
            "optimizer": scalars,
            "history": asdict(self.history),
            "config": net.config.to_json(),
            "batch_size": self.batch_size,
            "train_size": len(self.x_train),
        }
        arrays = {f"net/{k}": v for k, v in net.state_arrays().items()}
        arrays.update({f"optim/{k}": v for k, v in optim_arrays.items()})
        if self.best is not None:
            arrays.update({f"best/{k}": v for k, v in self.best.items()})
        arrays["order"] = self.order
        arrays[STATE_KEY] = json_entry(state)
        return save_npz(path, arrays)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore everything save_checkpoint wrote, after checking all of it (a checkpoint of
        another setup, or a damaged one, is a WeightsError naming the file and the field);
        nothing is changed unless every check passes."""
        path = Path(path)
        arrays = read_npz(path)
        state = read_json_entry(path, STATE_KEY, max_bytes=MAX_STATE_BYTES)
        arrays.pop(STATE_KEY, None)
        if not isinstance(state, dict):
            raise WeightsError(f"{path}: not a training checkpoint (no {STATE_KEY} entry)")
        try:
            restored = self._checked_checkpoint(state, arrays)
        except (KeyError, TypeError, ValueError) as error:
            problem = f"missing field {error}" if isinstance(error, KeyError) else str(error)
            raise WeightsError(f"{path}: {problem}") from None
        self._apply_checkpoint(state, *restored)

    def _checked_checkpoint(self, state: dict, arrays: dict[str, np.ndarray]) -> tuple:
        """(network arrays, best arrays or None, optimizer arrays, history, order), all checked."""
        net = self.network
        if state["config"] != net.config.to_json():
            raise ValueError("checkpoint is for another network config")
        if (state["batch_size"], state["train_size"]) != (self.batch_size, len(self.x_train)):
            raise ValueError("checkpoint is for another batch size or training set")
        epoch = require_int("epoch", state["epoch"], 0, 10**6)
        position = require_int("position", state["position"], 0, self.iter_per_epoch)
        targets = net.state_arrays()
        parts = {prefix: {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
                 for prefix in ("net/", "best/", "optim/")}
        unknown = set(arrays) - {"order"} - {p + k for p, part in parts.items() for k in part}
        if unknown:
            raise ValueError(f"unexpected entries {sorted(unknown)[:5]}")
        _check_arrays("net/", parts["net/"], targets, exact=True)
        if parts["best/"]:
            _check_arrays("best/", parts["best/"], targets, exact=True)
        optim = {}
        for compound, value in parts["optim/"].items():
            name, _, key = compound.partition("/")
            if name not in self.optimizer.state_names or key not in net.params:
                raise ValueError(f"optim/{compound} is not state of this optimizer and network")
            optim[compound] = value
        _check_arrays("optim/", optim, {k: net.params[k.partition("/")[2]] for k in optim})
        scalars = require_dict("optimizer", state["optimizer"])
        require_number("optimizer.lr", scalars["lr"], 0.0, 1e6)
        require_int("optimizer.iter", scalars["iter"], 0, 10**12)
        for name in ("rng", "dropout_rng"):  # tried on a throwaway generator first
            np.random.default_rng().bit_generator.state = state[name]
        history = History(**{**require_dict("history", state["history"]), "interrupted": False})
        expected_losses = epoch * self.iter_per_epoch + position
        if history.epochs_completed != epoch or len(history.train_loss) != expected_losses:
            raise ValueError(f"history ({history.epochs_completed} epochs, "
                             f"{len(history.train_loss)} losses) does not match epoch {epoch}, "
                             f"position {position}")
        order = self._checked_order(arrays["order"], position)
        return parts["net/"], parts["best/"] or None, optim, history, order

    def _checked_order(self, order: np.ndarray, position: int) -> np.ndarray:
        """The epoch's sample order: n indices (a permutation unless sampling is balanced)."""
        n = len(self.x_train)
        if position == 0 and order.size == 0:
            return order.astype(np.int64)
        if order.dtype.kind not in "iu" or order.shape != (n,):
            raise ValueError(f"order must be {n} integers, got {order.dtype}{list(order.shape)}")
        if self.balanced_sampling:
            if order.min() < 0 or order.max() >= n:
                raise ValueError(f"order holds indices outside [0, {n})")
        elif not np.array_equal(np.sort(order), np.arange(n)):
            raise ValueError(f"order is not a permutation of {n} samples")
        return order.astype(np.int64)

    def _apply_checkpoint(self, state: dict, net_arrays: dict, best: dict | None, optim: dict,
                          history: History, order: np.ndarray) -> None:
        net = self.network
        net.set_state_arrays(net_arrays)
        self.best = best
        self.optimizer.load_state_dict(state["optimizer"], optim)
        self.rng.bit_generator.state = state["rng"]
        net.dropout_rng.bit_generator.state = state["dropout_rng"]
        self.history = history
        self.epoch, self.position = state["epoch"], state["position"]
        self.order = order


def _check_arrays(prefix: str, arrays: dict[str, np.ndarray], targets: dict[str, np.ndarray],
                  exact: bool = False) -> None:
    """Each array shaped like its target and finite; with ``exact``, no target missing."""
    missing = sorted(set(targets) - set(arrays)) if exact else []
    if missing:
        raise ValueError(f"checkpoint lacks {prefix}{missing[0]!r}")
    for key, value in arrays.items():
        if key not in targets or value.shape != targets[key].shape:
            raise ValueError(f"checkpoint mis-shapes {prefix}{key!r}: {list(value.shape)}")
        if value.dtype.kind != "f" or not np.isfinite(value).all():
            raise ValueError(f"{prefix}{key} holds NaN, inf or non-float values")
