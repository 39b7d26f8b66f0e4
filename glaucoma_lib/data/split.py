"""Splits of the data set: the original study's 800/220 split and validation carved from training.

Everything is ordered by image number, because in G1020 neighbouring image numbers are usually
the same eye or the same patient: contiguous blocks keep a patient on one side of a split, while
image-level random folds leak near-duplicates between training and validation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from glaucoma_lib.nn.atomic import atomic_write

ORIGINAL_N_TOTAL = 1020
ORIGINAL_N_TEST = 220
SPLIT_COLUMNS = ("imageID", "binaryLabels")

_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def image_number(image_id: str) -> int:
    """The last run of digits in the file name: image_2563.jpg -> 2563."""
    match = _LAST_NUMBER.search(str(image_id))
    if match is None:
        raise ValueError(f"image ID {image_id!r} contains no image number")
    return int(match.group(1))


def sort_by_image_number(ids: Iterable[str]) -> list[str]:
    """Numeric order (image_2 before image_10), ties broken by name so the order is total."""
    return sorted(ids, key=lambda image_id: (image_number(image_id), image_id))


# The smallest data set whose proportional split leaves both train and test non-empty.
MIN_SPLIT_IMAGES = 3


def default_n_test(n: int) -> int:
    """220 of 1020 as in the original study, scaled proportionally for other data set sizes."""
    return round(n * ORIGINAL_N_TEST / ORIGINAL_N_TOTAL)


def original_split(ids: Iterable[str], n_test: int | None = None) -> tuple[list[str], list[str]]:
    """The original study's split: sort by image number, the last n_test images are the test set."""
    ordered = sort_by_image_number(ids)
    if n_test is None and len(ordered) < MIN_SPLIT_IMAGES:
        raise ValueError(f"{len(ordered)} image(s) cannot be split into train and a non-empty "
                         f"test split; at least {MIN_SPLIT_IMAGES} are needed")
    n_test = default_n_test(len(ordered)) if n_test is None else n_test
    if not 0 <= n_test <= len(ordered):
        raise ValueError(f"n_test={n_test} is outside 0..{len(ordered)}")
    n_train = len(ordered) - n_test
    return ordered[:n_train], ordered[n_train:]


def write_split_csvs(labels_df: pd.DataFrame, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write train_label.csv and test_label.csv (imageID,binaryLabels) in the original format.

    Rows are in image-number order, the order the original study wrote them in.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = labels_df.loc[:, list(SPLIT_COLUMNS)].set_index("imageID")
    train_ids, test_ids = original_split(labels.index)
    paths = (out_dir / "train_label.csv", out_dir / "test_label.csv")
    for ids, path in zip((train_ids, test_ids), paths, strict=True):
        with atomic_write(path, "w", newline="") as out:
            labels.loc[ids].reset_index().to_csv(out, index=False, lineterminator="\n")
    return paths


VALIDATION_FRACTION = 0.2  # share of the training images in the validation block


def validation_block(n: int, fraction: float = VALIDATION_FRACTION
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Hold out the LAST contiguous block (highest image numbers), like the test split does."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    n_val = min(max(round(n * fraction), 1), n - 1) if n >= 2 else 0
    indices = np.arange(n, dtype=np.int64)
    return indices[: n - n_val], indices[n - n_val :]


def _folds_from_blocks(n: int, blocks: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    folds = []
    for val_idx in blocks:
        in_val = np.zeros(n, dtype=bool)
        in_val[val_idx] = True
        folds.append((np.flatnonzero(~in_val).astype(np.int64), np.sort(val_idx).astype(np.int64)))
    return folds


def blocked_folds(n: int, k: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """k-fold cross-validation with each fold a contiguous block of image numbers."""
    if not 2 <= k <= n:
        raise ValueError(f"k must be in 2..{n}, got {k}")
    return _folds_from_blocks(n, np.array_split(np.arange(n), k))


def random_folds(n: int, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Image-level random k folds: they leak neighbouring images of one eye (leakage study only)."""
    if not 2 <= k <= n:
        raise ValueError(f"k must be in 2..{n}, got {k}")
    permutation = np.random.default_rng(seed).permutation(n)
    return _folds_from_blocks(n, np.array_split(permutation, k))


def stratified_folds(
    t: np.ndarray, k: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random k folds with each class spread evenly over them, for a data set without image
    numbers that group an eye (EyePACS-AIROGS-light); they cannot keep one patient's two eyes
    or repeat visits apart, since no patient identifiers are published."""
    t = np.asarray(t)
    if not 2 <= k <= np.bincount(t).min():
        raise ValueError(f"k must be in 2..{np.bincount(t).min()} (the smaller class), got {k}")
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(t), dtype=np.int64)
    for label in np.unique(t):
        members = rng.permutation(np.flatnonzero(t == label))
        fold_of[members] = (np.arange(len(members)) + rng.integers(k)) % k
    blocks = [np.flatnonzero(fold_of == f) for f in range(k)]
    return _folds_from_blocks(len(t), blocks)


def directory_listing(
    folder: str | os.PathLike, ids: Iterable[str], raw: bool = False
) -> list[str]:
    """The order a program reading `folder` would meet `ids` in.

    raw=True is os.listdir's order (file-system dependent, on ext4 a hash order); raw=False is the
    lexicographic order sorted(os.listdir()) gives (image_0, image_1, image_10, image_100, ...).
    """
    wanted = set(ids)
    listing = [name for name in os.listdir(folder) if name in wanted]
    return listing if raw else sorted(listing)


class MislabelCount(NamedTuple):
    """How positional pairing of images with labels goes wrong."""

    n_images: int
    n_other_image_label: int  # the image gets the label row of a different image
    n_wrong_class: int  # ... and that label also differs from its own


def count_mislabelled(
    label_order: Sequence[str], image_order: Sequence[str], labels: Mapping[str, int]
) -> MislabelCount:
    """Pair images with labels by position (the original study's bug) and count the damage."""
    if len(label_order) != len(image_order):
        raise ValueError(f"{len(label_order)} labels but {len(image_order)} images")
    label_ids = np.asarray(label_order, dtype=object)
    image_ids = np.asarray(image_order, dtype=object)
    given = np.array([labels[i] for i in label_ids], dtype=np.int64)
    true = np.array([labels[i] for i in image_ids], dtype=np.int64)
    return MislabelCount(
        n_images=len(image_ids),
        n_other_image_label=int(np.sum(label_ids != image_ids)),
        n_wrong_class=int(np.sum(given != true)),
    )


def split_summary(labels_df: pd.DataFrame, n_test: int | None = None) -> pd.DataFrame:
    """Size, glaucoma count and share, and first/last image of each side of the original split."""
    by_id = labels_df.set_index("imageID")["binaryLabels"]
    rows = {}
    for name, ids in zip(("train", "test"), original_split(by_id.index, n_test), strict=True):
        positives = int(by_id[ids].sum())
        rows[name] = {
            "images": len(ids),
            "glaucoma": positives,
            "glaucoma_share": positives / max(len(ids), 1),
            "first": ids[0] if ids else "",
            "last": ids[-1] if ids else "",
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def mislabel_table(
    folder: str | os.PathLike, label_order: Sequence[str], labels: Mapping[str, int]
) -> pd.DataFrame:
    """The original bug's damage for each way of listing `folder`, beside the correct pairing."""
    orders = {
        "os.listdir order (this file system)": directory_listing(folder, label_order, raw=True),
        "lexicographic listing (pairing='listing_order')": directory_listing(folder, label_order),
        "by file name (pairing='by_name')": list(label_order),
    }
    rows = {name: count_mislabelled(label_order, order, labels) for name, order in orders.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(MislabelCount._fields))


def _unit_rows(images: np.ndarray) -> np.ndarray:
    flat = images.reshape(len(images), -1).astype(np.float32)
    flat -= flat.mean(axis=1, keepdims=True)
    return flat / (np.linalg.norm(flat, axis=1, keepdims=True) + 1e-8)


def neighbour_similarity(
    images: np.ndarray, labels: np.ndarray, n_random: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Images adjacent in image-number order versus random pairs: pixel correlation, same label.

    `images` (N, C, H, W) and `labels` must be sorted by image number. The correlation is taken
    after removing the mean image (every fundus photo is a bright disc on black) and is the
    larger of the direct and mirrored comparison, since a neighbour may be the fellow eye.
    If neighbours resemble each other more than random pairs, validation must be contiguous.
    """
    centred = images.astype(np.float32) - images.mean(axis=0, dtype=np.float32)
    direct, mirrored = _unit_rows(centred), _unit_rows(centred[..., ::-1])
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(images), n_random)
    second = (first + rng.integers(2, len(images) - 1, n_random)) % len(images)
    pairs = {
        "neighbours": (np.arange(len(images) - 1), np.arange(1, len(images))),
        "random": (first, second),
    }
    frames = []
    for name, (a, b) in pairs.items():
        correlation = np.maximum(
            np.sum(direct[a] * direct[b], axis=1), np.sum(direct[a] * mirrored[b], axis=1)
        )
        same_label = np.asarray(labels)[a] == np.asarray(labels)[b]
        frames.append(
            pd.DataFrame({"pair": name, "correlation": correlation, "same_label": same_label})
        )
    return pd.concat(frames, ignore_index=True)


def grouped_stratified_folds(
    t: np.ndarray, groups: np.ndarray, k: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random k folds that keep each group (patient) whole and spread each class evenly.

    A patient's photographs share one label in G1020 and HYGD, so the classes are dealt
    separately: each class's patients, largest first (ties in random order), go to the fold
    that holds the fewest photographs of that class so far.
    """
    t, groups = np.asarray(t), np.asarray(groups)
    if len(t) != len(groups):
        raise ValueError(f"{len(t)} labels but {len(groups)} group identifiers")
    names, group_of = np.unique(groups, return_inverse=True)
    label_of = np.zeros(len(names), dtype=np.int64)
    np.maximum.at(label_of, group_of, t)
    mixed = np.bincount(group_of, weights=t) % np.bincount(group_of) != 0
    if mixed.any():
        first = str(names[np.flatnonzero(mixed)[0]])
        raise ValueError(f"group {first!r} has images of both classes")
    if not 2 <= k <= np.bincount(label_of).min():
        raise ValueError(f"k must be in 2..{np.bincount(label_of).min()} (patients of the smaller "
                         f"class), got {k}")
    rng = np.random.default_rng(seed)
    sizes = np.bincount(group_of)
    fold_of_group = np.empty(len(names), dtype=np.int64)
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(label_of == label))
        members = members[np.argsort(-sizes[members], kind="stable")]
        load = np.zeros(k, dtype=np.int64)
        for g in members:
            fold = int(np.argmin(load))
            fold_of_group[g] = fold
            load[fold] += sizes[g]
    fold_of = fold_of_group[group_of]
    return _folds_from_blocks(len(t), [np.flatnonzero(fold_of == f) for f in range(k)])
