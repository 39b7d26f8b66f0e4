"""Finding, validating and loading the G1020 fundus photographs.

Images are paired with labels BY FILE NAME. The original study paired them by position (directory
order against CSV order) and reshaped HWC pixels to CHW without a transpose; both bugs can be
reproduced on purpose with pairing="listing_order" and channel_order="hwc_reshape".
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import PIL
from PIL import Image

from glaucoma_lib.atomic import atomic_write
from glaucoma_lib.split import image_number, original_split, sort_by_image_number

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = PROJECT_ROOT / ".cache"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data" / "G1020"
SPLITS_DIR = PROJECT_ROOT / "data" / "splits"
DATA_ENV_VAR = "GLAUCOMA_DATA"
LABELS_FILE = "G1020.csv"
IMAGES_DIR = "Images_Square"
SYNTHETIC_MARKER = "SYNTHETIC_DATA.txt"
LABEL_COLUMNS = ("imageID", "binaryLabels")

# One antialiasing filter for every resize: BOX is the exact area mean when shrinking 512 -> 64.
RESIZE_FILTER = Image.Resampling.BOX
# JPEGs are decoded with libjpeg's DCT scaling down to no less than this multiple of the target
# side (512 -> 256 for 64x64), then shrunk with RESIZE_FILTER: faster and lighter on memory.
DRAFT_FACTOR = 4
# Checked from the header before decoding; a 512x512 fundus photo is 0.26 megapixels.
MAX_PIXELS = 50_000_000
# Formats Pillow may try; nothing exotic (EPS would run Ghostscript).
IMAGE_FORMATS = ("JPEG", "PNG", "TIFF", "BMP")
# Bump when the decode pipeline changes, so old cache entries are not served.
_PIPELINE = f"draft{DRAFT_FACTOR}-pad-black-{RESIZE_FILTER.name}-pillow{PIL.__version__}"

_HOW_TO_GET_DATA = (
    'Get the data from Kaggle (data set "glaucoma-datasets", folder G1020: G1020.csv plus '
    "Images_Square/; paper: Bajwa et al. 2020, arXiv:2006.09158), then set GLAUCOMA_DATA to "
    f"that folder, pass its path, or put it at {DEFAULT_DATA_DIR}. Without it, find_data_dir() "
    "falls back to the embedded synthetic set (glaucoma_lib.synthetic.ensure_synthetic())."
)
# Pillow's decoders report hostile bytes with a variety of exception types.
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    IndexError,
    TypeError,
    ZeroDivisionError,
    Image.DecompressionBombError,
)


class DataError(ValueError):
    """Bad input data; the message names the file and the problem."""


class DataNotFoundError(DataError):
    """No data set where we looked."""


class SyntheticDataWarning(UserWarning):
    """Results are about to be computed on the embedded synthetic set, not on G1020."""


# ---------------------------------------------------------------------------- finding the data


def _data_folder_in(path: Path) -> Path | None:
    """The folder holding G1020.csv: `path` itself or its G1020/ subfolder (the Kaggle root)."""
    for folder in (path, path / "G1020"):
        if (folder / LABELS_FILE).is_file():
            return folder
    return None


def _not_found(looked: list[str]) -> DataNotFoundError:
    places = "\n".join(f"  - {place}" for place in looked)
    return DataNotFoundError(f"G1020 data not found. Looked in:\n{places}\n{_HOW_TO_GET_DATA}")


def resolve_data_dir(path: str | os.PathLike | None = None) -> Path:
    """Explicit path, then $GLAUCOMA_DATA, then <project>/data/G1020.

    An explicit path or $GLAUCOMA_DATA without data is an error, not a reason to look further.
    """
    if path is not None:
        found = _data_folder_in(Path(path).expanduser())
        if found is None:
            raise _not_found([f"{path} (passed explicitly): no {LABELS_FILE} there"])
        return found.resolve()
    env_value = os.environ.get(DATA_ENV_VAR)
    if env_value:
        found = _data_folder_in(Path(env_value).expanduser())
        if found is None:
            raise _not_found([f"${DATA_ENV_VAR}={env_value}: no {LABELS_FILE} there"])
        return found.resolve()
    found = _data_folder_in(DEFAULT_DATA_DIR)
    if found is None:
        raise _not_found(
            [
                "no path passed",
                f"${DATA_ENV_VAR} is not set",
                f"{DEFAULT_DATA_DIR}: no {LABELS_FILE} there",
            ]
        )
    return found.resolve()


def is_synthetic(data_dir: str | os.PathLike) -> bool:
    """True for the embedded synthetic set, which carries a marker file."""
    return (Path(data_dir) / SYNTHETIC_MARKER).is_file()


def find_data_dir(path: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """resolve_data_dir, but with nothing configured fall back to the synthetic set, loudly.

    A path passed explicitly or set in $GLAUCOMA_DATA that holds no data is still an error:
    silently swapping in synthetic data would be worse than stopping.
    """
    try:
        folder = resolve_data_dir(path)
    except DataNotFoundError as error:
        if path is not None or os.environ.get(DATA_ENV_VAR):
            raise
        from glaucoma_lib.synthetic import ensure_synthetic

        folder = ensure_synthetic()
        warnings.warn(
            f"USING SYNTHETIC DATA from {folder}: every number and figure below is about made-up "
            f"images, not about glaucoma.\n{error}",
            SyntheticDataWarning,
            stacklevel=2,
        )
    return folder, is_synthetic(folder)


def splits_dir(synthetic: bool) -> Path:
    """Where the split label files go; synthetic ones never overwrite G1020's."""
    return SPLITS_DIR / "synthetic" if synthetic else SPLITS_DIR


# ---------------------------------------------------------------------------- labels


def _parse_label(text: str) -> int | None:
    """Deliberately accept "1", " 1", "1.0", "1e0": values exactly 0 or 1 once parsed as a float."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return int(value) if value in (0.0, 1.0) else None


def _check_image_id(csv_path: Path, line: int, image_id: str) -> None:
    where = f"{csv_path}: line {line}"
    if not image_id:
        raise DataError(f"{where}: empty imageID")
    if image_id in (".", "..") or any(c in image_id for c in "/\\\0") or not image_id.isprintable():
        raise DataError(f"{where}: imageID {image_id!r} is not a plain file name")
    try:
        image_number(image_id)
    except ValueError as error:
        raise DataError(f"{where}: imageID {image_id!r} has no usable image number") from error


def _header_columns(csv_path: Path, header: list[str]) -> tuple[int, int]:
    names = [name.strip() for name in header]
    for name in LABEL_COLUMNS:
        if names.count(name) != 1:
            problem = "is missing" if name not in names else "appears more than once"
            raise DataError(
                f"{csv_path}: column {name!r} {problem}; the header must contain "
                f"imageID,binaryLabels (found {names!r})"
            )
    return names.index(LABEL_COLUMNS[0]), names.index(LABEL_COLUMNS[1])


def _parse_rows(csv_path: Path, text: str) -> tuple[list[str], list[int]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    ids: list[str] = []
    labels: list[int] = []
    id_col = label_col = None
    for row in reader:
        if not any(field.strip() for field in row):
            continue
        if id_col is None:
            id_col, label_col = _header_columns(csv_path, row)
            continue
        if len(row) <= max(id_col, label_col):
            raise DataError(f"{csv_path}: line {reader.line_num}: only {len(row)} field(s)")
        image_id = row[id_col].strip()
        _check_image_id(csv_path, reader.line_num, image_id)
        label = _parse_label(row[label_col])
        if label is None:
            raise DataError(
                f"{csv_path}: line {reader.line_num}: label {row[label_col]!r} for {image_id} "
                "is not 0 or 1"
            )
        ids.append(image_id)
        labels.append(label)
    if id_col is None:
        raise DataError(f"{csv_path}: the file is empty (expected header imageID,binaryLabels)")
    return ids, labels


def read_labels(data_dir: str | os.PathLike) -> pd.DataFrame:
    """G1020.csv validated, as imageID (str) and binaryLabels (int64), sorted by image number.

    Tolerated on purpose: a UTF-8 BOM, Windows line endings, blank lines, extra columns
    (ignored), whitespace around fields, labels written as 1.0. Everything else is a DataError.
    """
    csv_path = Path(data_dir) / LABELS_FILE
    try:
        raw = csv_path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{csv_path}: label file not found") from None
    except OSError as error:
        raise DataError(f"{csv_path}: cannot read the label file ({error.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(
            f"{csv_path}: line {line}: byte {raw[error.start]:#04x} at offset {error.start} is "
            "not UTF-8; save the file as UTF-8"
        ) from None
    try:
        ids, labels = _parse_rows(csv_path, text)
    except csv.Error as error:
        raise DataError(f"{csv_path}: not a readable CSV file ({error})") from None
    if not ids:
        raise DataError(f"{csv_path}: no labelled images below the header")
    duplicated = sorted(pd.Index(ids)[pd.Index(ids).duplicated()].unique())
    if duplicated:
        raise DataError(
            f"{csv_path}: {len(duplicated)} imageID(s) appear more than once, e.g. {duplicated[:5]}"
        )
    frame = pd.DataFrame({"imageID": ids, "binaryLabels": np.asarray(labels, dtype=np.int64)})
    order = sort_by_image_number(ids)
    return frame.set_index("imageID").loc[order].reset_index()


def _check_image_folder(data_dir: Path, image_ids: list[str]) -> None:
    """Missing images are an error; unlisted extra files are skipped with a counted warning."""
    folder = data_dir / IMAGES_DIR
    if not folder.is_dir():
        raise DataError(
            f"{folder}: image folder not found (expected {IMAGES_DIR}/ beside {LABELS_FILE})"
        )
    present = {name for name in os.listdir(folder) if not name.startswith(".")}
    if not present:
        raise DataError(f"{folder}: the image folder is empty")
    missing = [image_id for image_id in image_ids if image_id not in present]
    if missing:
        raise DataError(
            f"{folder}: {len(missing)} image(s) listed in {LABELS_FILE} are missing, "
            f"e.g. {missing[:5]}"
        )
    unlisted = sorted(present.difference(image_ids))
    if unlisted:
        warnings.warn(
            f"{folder}: skipping {len(unlisted)} file(s) not listed in {LABELS_FILE}, "
            f"e.g. {unlisted[:5]}",
            stacklevel=3,
        )


# ---------------------------------------------------------------------------- images


def _to_rgb(image: Image.Image) -> Image.Image:
    """Every mode becomes 8-bit RGB on purpose: 16-bit keeps its top 8 bits, alpha becomes black."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I"):
        values = np.clip(np.asarray(image, dtype=np.int64), 0, 65535) >> 8
        return Image.fromarray(values.astype(np.uint8), mode="L").convert("RGB")
    if image.mode == "F":
        raise ValueError("floating-point images are not supported")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return image.convert("RGB")


def _open_rgb(path: Path, draft_side: int | None = None) -> Image.Image:
    """Open, check the header's pixel count, decode and convert to RGB; errors become DataError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=IMAGE_FORMATS) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise DataError(
                        f"{path}: {width}x{height} pixels exceeds the limit of {MAX_PIXELS:,} "
                        "(possible decompression bomb)"
                    )
                if draft_side is not None and image.format == "JPEG":
                    image.draft("RGB", (draft_side, draft_side))
                image.load()
                return _to_rgb(image)
    except FileNotFoundError:
        raise DataError(f"{path}: image file is missing") from None
    except Image.UnidentifiedImageError:
        raise DataError(f"{path}: not a readable image (unknown or corrupt format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DataError(f"{path}: refused as a possible decompression bomb ({error})") from None
    except _DECODE_ERRORS as error:
        raise DataError(f"{path}: truncated or corrupt image ({error})") from None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """One image as uint8 (H, W, 3) RGB at native resolution."""
    return np.asarray(_open_rgb(Path(path)), dtype=np.uint8)


def _pad_to_square(image: Image.Image) -> Image.Image:
    """Pad with black rather than crop or stretch: fundus photos already have black borders."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    square = Image.new("RGB", (side, side))
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return square


def _read_resized(path: Path, image_size: int) -> np.ndarray:
    image = _pad_to_square(_open_rgb(path, draft_side=DRAFT_FACTOR * image_size))
    return np.asarray(image.resize((image_size, image_size), RESIZE_FILTER), dtype=np.uint8)


def _cache_key(paths: list[Path], image_size: int) -> str:
    """Names, sizes and mtimes of the files, image size and pipeline: a changed file, a new key."""
    digest = hashlib.sha256(f"{_PIPELINE}\n{image_size}\n".encode())
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise DataError(f"{path}: image file is missing") from None
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode(errors="replace"))
    return digest.hexdigest()


def _read_cache(cache_path: Path, image_ids: list[str], shape: tuple) -> np.ndarray | None:
    try:
        with np.load(cache_path, allow_pickle=False) as cached:
            images, ids = cached["images"], cached["ids"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if images.shape != shape or images.dtype != np.uint8 or ids.tolist() != list(image_ids):
        return None
    return images


def _write_cache(cache_path: Path, images: np.ndarray, image_ids: list[str]) -> None:
    """Best effort and atomic: a read-only project still loads, just without the speed-up."""
    try:
        with atomic_write(cache_path) as out:
            np.savez(out, images=images, ids=np.asarray(image_ids, dtype=str))
    except OSError as error:
        warnings.warn(f"{cache_path}: cannot write the image cache ({error})", stacklevel=3)


def load_images(
    data_dir: str | os.PathLike, image_ids: list[str], image_size: int = 64
) -> np.ndarray:
    """Decoded, square, resized images as uint8 (N, 3, S, S) in the order of image_ids.

    Cached as .npz under <project>/.cache/, keyed by the files' names, sizes and mtimes and the
    image size and filter, so a rerun takes about a second and a changed data set is re-read.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int | np.integer):
        raise TypeError(f"image_size must be an int, got {image_size!r}")
    if not 1 <= image_size <= 4096:
        raise ValueError(f"image_size must be in 1..4096, got {image_size}")
    image_ids = list(image_ids)
    paths = [Path(data_dir) / IMAGES_DIR / image_id for image_id in image_ids]
    shape = (len(paths), 3, image_size, image_size)
    cache_path = CACHE_DIR / f"images_{image_size}px_{_cache_key(paths, image_size)[:32]}.npz"
    images = _read_cache(cache_path, image_ids, shape)
    if images is None:
        images = np.empty(shape, dtype=np.uint8)
        for index, path in enumerate(paths):
            images[index] = _read_resized(path, image_size).transpose(2, 0, 1)
        _write_cache(cache_path, images, image_ids)
    return images


def image_inventory(data_dir: str | os.PathLike) -> pd.DataFrame:
    """Format, mode, size and file size of every listed image, read from the headers only."""
    data_dir = Path(data_dir)
    rows = []
    for image_id in read_labels(data_dir)["imageID"]:
        path = data_dir / IMAGES_DIR / image_id
        try:
            with Image.open(path, formats=IMAGE_FORMATS) as image:
                rows.append((image_id, image.format, image.mode, *image.size, path.stat().st_size))
        except FileNotFoundError:
            raise DataError(f"{path}: image file is missing") from None
        except _DECODE_ERRORS as error:
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
    digest = hashlib.sha256((data_dir / LABELS_FILE).read_bytes())
    folder = data_dir / IMAGES_DIR
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
