"""Finding and loading a data set: G1020 (or the embedded synthetic set) and EyePACS-AIROGS-light.

Images are paired with labels BY FILE NAME. The original study paired them by position (directory
order against CSV order) and reshaped HWC pixels to CHW without a transpose; both bugs can be
reproduced on purpose with pairing="listing_order" and channel_order="hwc_reshape".
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from glaucoma_lib.data import synthetic
from glaucoma_lib.data.cache import cache_file, read_cache, write_cache
from glaucoma_lib.data.datasets import (
    AIROGS,
    G1020,
    SYNTHETIC_MARKER,
    DataError,
    DataNotFoundError,
    Dataset,
    dataset_of,
)
from glaucoma_lib.data.images import DECODE_ERRORS, IMAGE_FORMATS, read_resized
from glaucoma_lib.data.labels import read_labels
from glaucoma_lib.data.split import MIN_SPLIT_IMAGES, original_split
from glaucoma_lib.paths import shown

__all__ = ["AIROGS", "G1020", "DataError", "DataNotFoundError", "read_labels"]


class SyntheticDataWarning(UserWarning):
    """Results are about to be computed on the embedded synthetic set, not on G1020."""


# ---------------------------------------------------------------------------- finding the data


def _not_found(dataset: Dataset, looked: list[str]) -> DataNotFoundError:
    places = "\n".join(f"  - {place}" for place in looked)
    fallback = (" Without it, find_data_dir() falls back to the embedded synthetic set."
                if dataset is G1020 else "")
    return DataNotFoundError(
        f"{dataset.name} data not found. Looked in:\n{places}\nGet it from {dataset.how_to_get} "
        f"(paper: {dataset.citation}), then set {dataset.env_var} to that folder, pass its path, "
        f"or put it at {shown(dataset.default_dir)}.{fallback}"
    )


def resolve_data_dir(path: str | os.PathLike | None = None, dataset: Dataset = G1020) -> Path:
    """Explicit path, then the data set's environment variable, then <project>/data/<name>.

    An explicit path or environment variable without data is an error, not a reason to look
    further.
    """
    if path is not None:
        found = dataset.folder_in(Path(path).expanduser())
        if found is None:
            raise _not_found(dataset, [f"{path} (passed explicitly): no {dataset.labels_file}"])
        return found.resolve()
    env_value = os.environ.get(dataset.env_var)
    if env_value:
        found = dataset.folder_in(Path(env_value).expanduser())
        if found is None:
            raise _not_found(dataset, [f"${dataset.env_var}={env_value}: no {dataset.labels_file}"])
        return found.resolve()
    found = dataset.folder_in(dataset.default_dir)
    if found is None:
        raise _not_found(dataset, ["no path passed", f"${dataset.env_var} is not set",
                                   f"{shown(dataset.default_dir)}: no {dataset.labels_file} there"])
    return found.resolve()


def is_synthetic(data_dir: str | os.PathLike) -> bool:
    """True for the embedded synthetic set, which carries a marker file."""
    return (Path(data_dir) / SYNTHETIC_MARKER).is_file()


def find_data_dir(path: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """resolve_data_dir for G1020, but with nothing configured fall back to the synthetic set,
    loudly.

    A path passed explicitly or set in $GLAUCOMA_DATA that holds no data is still an error:
    silently swapping in synthetic data would be worse than stopping.
    """
    try:
        folder = resolve_data_dir(path)
    except DataNotFoundError as error:
        if path is not None or os.environ.get(G1020.env_var):
            raise
        folder = synthetic.ensure_synthetic()
        warnings.warn(
            "USING SYNTHETIC DATA (the embedded set in data/synthetic): every number and figure "
            f"below is about made-up images, not about glaucoma.\n{error}",
            SyntheticDataWarning,
            stacklevel=2,
        )
    return folder, is_synthetic(folder)


def find_optional(dataset: Dataset, path: str | os.PathLike | None = None) -> Path | None:
    """The data set's folder, or None when it is simply not there (nothing configured).

    A path passed or set in the environment that holds no data is still an error.
    """
    try:
        return resolve_data_dir(path, dataset)
    except DataNotFoundError:
        if path is not None or os.environ.get(dataset.env_var):
            raise
        return None


def image_path(data_dir: str | os.PathLike, image_id: str) -> Path:
    """Where an image of this data folder lives."""
    return Path(data_dir) / dataset_of(data_dir).images_dir / image_id


def _check_image_folder(data_dir: Path, image_ids: list[str]) -> None:
    """Missing images are an error; unlisted extra files are skipped with a counted warning.
    Unlisted hidden files (.DS_Store and the like) are ignored; a listed name is looked for as
    it is, even when it starts with a dot."""
    dataset = dataset_of(data_dir)
    folder = data_dir / dataset.images_dir
    if not folder.is_dir():
        raise DataError(f"{folder}: image folder not found (expected {dataset.images_dir}/ "
                        f"beside {dataset.labels_file})")
    listed = set(image_ids)
    present = {name for name in os.listdir(folder) if name in listed or not name.startswith(".")}
    if not present:
        raise DataError(f"{folder}: the image folder is empty")
    missing = [image_id for image_id in image_ids if image_id not in present]
    if missing:
        raise DataError(f"{folder}: {len(missing)} image(s) listed in {dataset.labels_file} are "
                        f"missing, e.g. {missing[:5]}")
    unlisted = sorted(present - listed)
    if unlisted:
        warnings.warn(f"{folder}: skipping {len(unlisted)} file(s) not listed in "
                      f"{dataset.labels_file}, e.g. {unlisted[:5]}", stacklevel=3)


# ---------------------------------------------------------------------------- images


def load_images(
    data_dir: str | os.PathLike, image_ids: list[str], image_size: int = 64
) -> np.ndarray:
    """Decoded, square, resized images as uint8 (N, 3, S, S) in the order of image_ids.

    Cached under <project>/.cache/ (glaucoma_lib.data.cache), so a rerun takes about a second and a
    changed data set is re-read.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int | np.integer):
        raise TypeError(f"image_size must be an int, got {image_size!r}")
    if not 1 <= image_size <= 4096:
        raise ValueError(f"image_size must be in 1..4096, got {image_size}")
    image_ids = list(image_ids)
    paths = [image_path(data_dir, image_id) for image_id in image_ids]
    shape = (len(paths), 3, image_size, image_size)
    path = cache_file(f"images_{image_size}px", paths, image_size)
    cached = read_cache(path, image_ids)
    if cached is not None and cached["images"].shape == shape:
        return cached["images"]
    images = np.empty(shape, dtype=np.uint8)
    for index, source in enumerate(paths):
        images[index] = read_resized(source, image_size).transpose(2, 0, 1)
    write_cache(path, image_ids, images=images)
    return images


def _readable(path: Path, image_size: int) -> bool:
    try:
        read_resized(path, image_size)
    except DataError as error:
        warnings.warn(f"skipped: {error}", stacklevel=3)
        return False
    return True


def load_labelled(
    data_dir: str | os.PathLike, image_size: int = 64
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every readable labelled image of a data folder, sorted by image number, as
    (uint8 images (N, 3, S, S), int64 labels, image IDs). Labels are paired by file name.

    An image that cannot be read is named in a warning and left out; the rest proceed.
    """
    data_dir = Path(data_dir)
    labels = read_labels(data_dir)
    ids = labels["imageID"].tolist()
    _check_image_folder(data_dir, ids)
    readable = ids
    try:
        images = load_images(data_dir, ids, image_size)
    except DataError:  # find every bad image, name each, and go on without them
        readable = [i for i in ids if _readable(image_path(data_dir, i), image_size)]
        images = load_images(data_dir, readable, image_size)
    label_of = dict(zip(ids, labels["binaryLabels"], strict=True))
    return images, np.array([label_of[i] for i in readable], np.int64), readable


def image_inventory(data_dir: str | os.PathLike) -> pd.DataFrame:
    """Format, mode, size and file size of every listed image, read from the headers only."""
    data_dir = Path(data_dir)
    rows = []
    for image_id in read_labels(data_dir)["imageID"]:
        path = image_path(data_dir, image_id)
        try:
            with Image.open(path, formats=IMAGE_FORMATS) as image:
                rows.append((image_id, image.format, image.mode, *image.size, path.stat().st_size))
        except FileNotFoundError:
            raise DataError(f"{path}: image file is missing") from None
        except DECODE_ERRORS as error:
            raise DataError(f"{path}: not a readable image ({error})") from None
    columns = ["imageID", "format", "mode", "width", "height", "file_bytes"]
    return pd.DataFrame(rows, columns=columns)


def pixel_statistics(images: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Per-class, per-channel mean and std of (N, 3, H, W) images, plus the black-border share."""
    rows = {}
    for label, name in ((0, "healthy"), (1, "glaucoma"), (None, "all")):
        chosen = images if label is None else images[labels == label]
        if len(chosen) == 0:
            continue
        pixels = chosen.transpose(1, 0, 2, 3).reshape(3, -1).astype(np.float64)
        row = {f"{c}_mean": m for c, m in zip("RGB", pixels.mean(axis=1), strict=True)}
        row |= {f"{c}_std": s for c, s in zip("RGB", pixels.std(axis=1), strict=True)}
        row["black_share"] = float(np.mean(pixels.max(axis=0) < 0.04 * pixels.max()))
        rows[name] = {"images": len(chosen), **row}
    return pd.DataFrame.from_dict(rows, orient="index")


def data_checksum(data_dir: str | os.PathLike) -> str:
    """sha256 of the label file's bytes plus every image's name and size: which data a run used."""
    data_dir = Path(data_dir)
    dataset = dataset_of(data_dir)
    digest = hashlib.sha256((data_dir / dataset.labels_file).read_bytes())
    folder = data_dir / dataset.images_dir
    for name in sorted(os.listdir(folder)):
        size = (folder / name).stat().st_size
        digest.update(f"{name}\0{size}\n".encode(errors="surrogateescape"))
    return digest.hexdigest()


# ---------------------------------------------------------------------------- the study's arrays


def _as_arrays(
    images: np.ndarray, labels: np.ndarray, normalize: bool, flatten: bool, one_hot_label: bool
) -> tuple[np.ndarray, np.ndarray]:
    x = images.astype(np.float32)
    if normalize:
        x /= 255.0
    if flatten:
        x = x.reshape(len(x), -1)
    t = np.eye(2, dtype=np.float32)[labels] if one_hot_label else labels
    return x, t


def load_glaucoma(
    data_dir: str | os.PathLike | None = None,
    image_size: int = 64,
    normalize: bool = True,
    flatten: bool = False,
    one_hot_label: bool = False,
    pairing: str = "by_name",
    channel_order: str = "transpose",
    return_ids: bool = False,
):
    """The original study's 800/220 split as ((x_train, t_train), (x_test, t_test)).

    x is float32 (N, 3, S, S) (or (N, 3*S*S) with flatten), in [0, 1] with normalize, else
    0..255; t is int64 0/1 (or one-hot float32 (N, 2)). Images are squared by black padding and
    shrunk with RESIZE_FILTER (BOX). With return_ids each tuple gets the IDs of the images in x.

    Deliberately wrong options, to reproduce the original study's bugs:
      pairing="listing_order": each split's images in directory-listing order (lexicographic:
        image_0, image_1, image_10, image_100, ...) paired by position with labels in CSV row
        order (image-number order), so most images get another image's label.
      channel_order="hwc_reshape": the (H, W, 3) pixels reshaped to (3, H, W) without a
        transpose, which scrambles rows and colour channels.
    """
    if pairing not in ("by_name", "listing_order"):
        raise ValueError(f"pairing must be 'by_name' or 'listing_order', got {pairing!r}")
    if channel_order not in ("transpose", "hwc_reshape"):
        raise ValueError(
            f"channel_order must be 'transpose' or 'hwc_reshape', got {channel_order!r}"
        )
    data_dir = resolve_data_dir(data_dir)
    labels = read_labels(data_dir)
    ids = labels["imageID"].tolist()
    if len(ids) < MIN_SPLIT_IMAGES:  # before any image is decoded
        raise DataError(f"{data_dir}: {len(ids)} image(s) listed; the train/test split needs at "
                        f"least {MIN_SPLIT_IMAGES}, or the test split would be empty")
    _check_image_folder(data_dir, ids)
    images = load_images(data_dir, ids, image_size)
    if channel_order == "hwc_reshape":
        images = np.ascontiguousarray(images.transpose(0, 2, 3, 1)).reshape(images.shape)
    position = {image_id: index for index, image_id in enumerate(ids)}
    label_of = dict(zip(ids, labels["binaryLabels"].to_numpy(), strict=True))
    splits = []
    for label_ids in original_split(ids):
        image_ids = sorted(label_ids) if pairing == "listing_order" else label_ids
        x, t = _as_arrays(
            images[[position[image_id] for image_id in image_ids]],
            np.array([label_of[image_id] for image_id in label_ids], dtype=np.int64),
            normalize,
            flatten,
            one_hot_label,
        )
        splits.append((x, t, np.array(image_ids, dtype=str)) if return_ids else (x, t))
    return tuple(splits)


def describe_data(data_dir: str | os.PathLike) -> str:
    """The data named as the report names them: data set, image count and checksum (no paths)."""
    name = "SYNTHETIC DATA (embedded set)" if is_synthetic(data_dir) else dataset_of(data_dir).name
    n = len(read_labels(data_dir))
    return f"data: {name}, {n} images, sha256 {data_checksum(data_dir)[:12]} (first 12 hex digits)"
