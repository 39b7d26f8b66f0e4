"""Training checkpoints: everything a Trainer needs to resume exactly (weights, optimizer state,
RNG states, history, position in the epoch) in one pickle-free .npz, and its checked restore.

A checkpoint is read against what this Trainer implies: every entry's uncompressed size in the
zip directory is checked against the network's own parameter shapes (and the training set's
size, and the history a run of these epochs can hold) before any member is read, so a small
hostile file cannot make the loader allocate gigabytes. Nothing is changed unless every check
passes.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from glaucoma_lib.nn.history import History
from glaucoma_lib.nn.validate import require_dict, require_int, require_number
from glaucoma_lib.nn.weight_files import (
    WeightsError,
    json_entry,
    parse_json_entry,
    read_npz,
    save_npz,
)

# The trainer is passed in (typed Any): this module serves train.py and must not import it back.
Trainer = Any

STATE_KEY = "__state__"
STATE_BASE_BYTES = 256 * 2**10  # config, RNG and optimizer states, per-epoch lists of short runs
STATE_BYTES_PER_ITERATION = 64  # one recorded batch loss is ~20 bytes of JSON


def state_budget(trainer: Trainer) -> int:
    """Most bytes the JSON state of a run of the trainer's epochs can take."""
    return STATE_BASE_BYTES + STATE_BYTES_PER_ITERATION * trainer.epochs * trainer.iter_per_epoch


def entry_budget(trainer: Trainer) -> dict[str, int]:
    """{entry: most data bytes} of a checkpoint of this trainer (8 bytes per number at most)."""
    net = trainer.network
    budget = {}
    for key, value in net.state_arrays().items():
        budget[f"net/{key}"] = budget[f"best/{key}"] = 8 * value.size
    for name in trainer.optimizer.state_names:
        budget.update({f"optim/{name}/{key}": 8 * value.size for key, value in net.params.items()})
    budget["order"] = 8 * len(trainer.x_train)
    budget[STATE_KEY] = state_budget(trainer)
    return budget


def save_checkpoint(trainer: Trainer, path: str | os.PathLike) -> Path:
    """Weights, optimizer state, RNG states, history and position in one pickle-free .npz."""
    net = trainer.network
    scalars, optim_arrays = trainer.optimizer.state_dict()
    state = {
        "epoch": trainer.epoch,
        "position": trainer.position,
        "rng": trainer.rng.bit_generator.state,
        "dropout_rng": net.dropout_rng.bit_generator.state,
        "optimizer": scalars,
        "history": asdict(trainer.history),
        "config": net.config.to_json(),
        "batch_size": trainer.batch_size,
        "train_size": len(trainer.x_train),
    }
    arrays = {f"net/{k}": v for k, v in net.state_arrays().items()}
    arrays.update({f"optim/{k}": v for k, v in optim_arrays.items()})
    if trainer.best is not None:
        arrays.update({f"best/{k}": v for k, v in trainer.best.items()})
    arrays["order"] = trainer.order
    arrays[STATE_KEY] = json_entry(state)
    return save_npz(path, arrays)


def load_checkpoint(trainer: Trainer, path: str | os.PathLike) -> None:
    """Restore everything save_checkpoint wrote, after checking all of it (a checkpoint of
    another setup, or a damaged one, is a WeightsError naming the file and the field)."""
    path = Path(path)
    arrays = read_npz(path, budget=entry_budget(trainer))
    if STATE_KEY not in arrays:
        raise WeightsError(f"{path}: not a training checkpoint (no {STATE_KEY} entry)")
    state = parse_json_entry(path, STATE_KEY, arrays.pop(STATE_KEY))
    try:
        require_dict(STATE_KEY, state)
        restored = _checked(trainer, state, arrays)
    except (KeyError, TypeError, ValueError) as error:
        problem = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        raise WeightsError(f"{path}: {problem}") from None
    _apply(trainer, state, *restored)


def _checked(trainer: Trainer, state: dict, arrays: dict[str, np.ndarray]) -> tuple:
    """(network arrays, best arrays or None, optimizer arrays, history, order), all checked."""
    net = trainer.network
    if state["config"] != net.config.to_json():
        raise ValueError("checkpoint is for another network config")
    if (state["batch_size"], state["train_size"]) != (trainer.batch_size, len(trainer.x_train)):
        raise ValueError("checkpoint is for another batch size or training set")
    epoch = require_int("epoch", state["epoch"], 0, 10**6)
    position = require_int("position", state["position"], 0, trainer.iter_per_epoch)
    targets = net.state_arrays()
    parts = {prefix: {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
             for prefix in ("net/", "best/", "optim/")}
    _check_arrays("net/", parts["net/"], targets, exact=True)
    if parts["best/"]:
        _check_arrays("best/", parts["best/"], targets, exact=True)
    optim = parts["optim/"]  # names already checked against the budget: state of these params
    _check_arrays("optim/", optim, {k: net.params[k.partition("/")[2]] for k in optim})
    scalars = require_dict("optimizer", state["optimizer"])
    require_number("optimizer.lr", scalars["lr"], 0.0, 1e6)
    require_int("optimizer.iter", scalars["iter"], 0, 10**12)
    for name in ("rng", "dropout_rng"):  # tried on a throwaway generator first
        np.random.default_rng().bit_generator.state = state[name]
    history = History(**{**require_dict("history", state["history"]), "interrupted": False})
    expected_losses = epoch * trainer.iter_per_epoch + position
    if history.epochs_completed != epoch or len(history.train_loss) != expected_losses:
        raise ValueError(f"history ({history.epochs_completed} epochs, "
                         f"{len(history.train_loss)} losses) does not match epoch {epoch}, "
                         f"position {position}")
    order = _checked_order(trainer, arrays["order"], position)
    return parts["net/"], parts["best/"] or None, optim, history, order


def _checked_order(trainer: Trainer, order: np.ndarray, position: int) -> np.ndarray:
    """The epoch's sample order: n indices (a permutation unless sampling is balanced)."""
    n = len(trainer.x_train)
    if position == 0 and order.size == 0:
        return order.astype(np.int64)
    if order.dtype.kind not in "iu" or order.shape != (n,):
        raise ValueError(f"order must be {n} integers, got {order.dtype}{list(order.shape)}")
    if trainer.balanced_sampling:
        if order.min() < 0 or order.max() >= n:
            raise ValueError(f"order holds indices outside [0, {n})")
    elif not np.array_equal(np.sort(order), np.arange(n)):
        raise ValueError(f"order is not a permutation of {n} samples")
    return order.astype(np.int64)


def _apply(trainer: Trainer, state: dict, net_arrays: dict, best: dict | None, optim: dict,
           history: History, order: np.ndarray) -> None:
    net = trainer.network
    net.set_state_arrays(net_arrays)
    trainer.best = best
    trainer.optimizer.load_state_dict(state["optimizer"], optim)
    trainer.rng.bit_generator.state = state["rng"]
    net.dropout_rng.bit_generator.state = state["dropout_rng"]
    trainer.history = history
    trainer.epoch, trainer.position = state["epoch"], state["position"]
    trainer.order = order


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
