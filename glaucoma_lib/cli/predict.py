"""Glaucoma probability for new fundus photographs with the committed (or a given) model.

Images stream through in small batches (read, find the disc, crop, score), so memory does not
grow with the number of images; a batch is scored in chunks sized from the model's declared work
per image. A verdict is given only when the model's arithmetic stayed finite throughout.
Every input gets exactly one result: an image that cannot be scored keeps its place with a
``status`` saying why (e.g. "unreadable: ..."), never fatal.
Any size works: the image is turned upright as a viewer shows it (EXIF orientation), a JPEG is
decoded at reduced size (libjpeg's draft mode, never below 512 px), padded to a square and
resized to 512x512 (the training geometry); the disc position is reported back in the pixels of
the photograph as displayed.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from glaucoma_lib.data.datasets import DataError
from glaucoma_lib.data.images import read_working
from glaucoma_lib.models.disc import locate_discs, locations_frame
from glaucoma_lib.models.fundus import fundus_found
from glaucoma_lib.models.kinds import Model, load_model
from glaucoma_lib.models.limits import score_chunk

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}
SIDE = 512
CSV_COLUMNS = ["path", "probability", "label", "disc_x", "disc_y", "status"]
OK = "ok"
NO_FUNDUS = "no fundus found"
NON_FINITE = "not scored: non-finite score (the model's arithmetic overflowed)"


@dataclass
class Prediction:
    """One image's result; a status other than "ok" means no verdict (the numbers are NaN)."""

    path: str
    probability: float = float("nan")
    label: int = -1
    disc_x: float = float("nan")
    disc_y: float = float("nan")
    status: str = OK

    @property
    def ok(self) -> bool:
        return self.status == OK


def iter_inputs(inputs: Iterable) -> Iterator[str | np.ndarray | Prediction]:
    """Arrays as they are; files as given; folders walked (sorted, depth-first, without
    recursion, so any depth works) for image files. A folder that cannot be listed becomes a
    Prediction saying why."""
    for item in inputs:
        if isinstance(item, np.ndarray):
            yield item
        elif Path(item).is_dir():
            yield from _walk(Path(item))
        else:
            yield str(item)


def _walk(folder: Path) -> Iterator[str | Prediction]:
    """Files before subfolders, both sorted by name, as os.walk(topdown) with sorted dirs;
    symlinked folders are not entered, symlinked files are read."""
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as error:
            yield Prediction(str(current), status=f"unreadable folder: {_reason(error)}")
            continue
        subfolders = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(Path(entry.path))
                elif Path(entry.name).suffix.lower() in IMAGE_SUFFIXES and entry.is_file():
                    yield entry.path  # regular files only: a FIFO would block the read
            except OSError as error:
                yield Prediction(entry.path, status=f"unreadable: {_reason(error)}")
        stack.extend(reversed(subfolders))


def _reason(error: OSError) -> str:
    return "permission denied" if isinstance(error, PermissionError) else (
        error.strerror or str(error))


def output_problem(out: str, inputs: Iterable, weights: str | os.PathLike) -> str | None:
    """Why ``out`` must not be written (None if it may): outputs go only to a regular file or a
    new name in an existing folder, never to an input, the weight file, or any file an input
    reaches (a folder's files and what their links point to), nor as an image into an input
    folder. Checked before any work starts."""
    if not out:
        return "the CSV name is empty"
    path = Path(out)
    if path.is_symlink():
        return f"{out} is a symbolic link; refusing to replace it (name its target instead)"
    if path.is_dir():
        return f"{out} is a folder, not a file name"
    if path.exists() and not path.is_file():
        return f"{out} is not a regular file (a device or FIFO); refusing to replace it"
    if not path.parent.is_dir():
        what = "is a file, not a folder" if path.parent.exists() else "does not exist"
        return f"{out}: the folder {path.parent} {what}"
    target = path.resolve()
    if target == Path(weights).resolve() or _same_file(path, Path(weights)):
        return f"{out} is the weight file; refusing to overwrite it"
    given = [Path(item) for item in inputs if not isinstance(item, np.ndarray)]
    for folder in given:
        if folder.is_dir() and folder.resolve() in target.parents and \
                path.suffix.lower() in IMAGE_SUFFIXES:
            return f"{out} is inside the input folder {folder} and would be scored; refusing"
    if path.exists():  # a new name cannot be an existing input
        for item in iter_inputs(given):
            if isinstance(item, str) and _same_file(path, Path(item)):
                return f"{out} is also an input ({item}); refusing to overwrite it"
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def to_square(rgb: np.ndarray, side: int = SIDE) -> tuple[np.ndarray, float, float, float]:
    """Pad to a square with black, resize to side x side; returns (image, scale, pad_x, pad_y)
    where native = resized * scale - pad."""
    h, w = rgb.shape[:2]
    n = max(h, w)
    pad_x, pad_y = (n - w) // 2, (n - h) // 2
    if h == w == side:
        return rgb, 1.0, 0.0, 0.0
    canvas = Image.new("RGB", (n, n))
    canvas.paste(Image.fromarray(rgb), (pad_x, pad_y))
    return np.asarray(canvas.resize((side, side), Image.BILINEAR)), n / side, pad_x, pad_y


@dataclass(frozen=True)
class _Square:
    """What a batch holds per image: the 512x512 working square (never the full-size decode)
    and the map back to the photograph's displayed pixels, native = square * scale - offset."""

    name: str
    image: np.ndarray
    scale: tuple[float, float]
    offset: tuple[float, float]


def _square(name: str, rgb: np.ndarray, displayed: tuple[int, int]) -> _Square:
    square, scale, pad_x, pad_y = to_square(rgb)
    fx, fy = displayed[0] / rgb.shape[1], displayed[1] / rgb.shape[0]
    return _Square(name, square, (scale * fx, scale * fy), (pad_x * fx, pad_y * fy))


def _read(item: str | np.ndarray, index: int) -> _Square | Prediction:
    """The working square, or a Prediction whose status says why there is none."""
    if isinstance(item, np.ndarray):
        name = f"<array {index}>"
        if item.ndim != 3 or item.shape[2] != 3 or item.dtype != np.uint8:
            problem = f"expected uint8 (H, W, 3), got {item.dtype} {item.shape}"
            return Prediction(name, status=f"unreadable: {problem}")
        return _square(name, item, (item.shape[1], item.shape[0]))
    try:
        return _square(item, *read_working(item, SIDE))
    except (DataError, OSError, ValueError) as error:
        return Prediction(item, status=f"unreadable: {str(error).removeprefix(f'{item}: ')}")


def _score_batch(model: Model, batch: list[_Square]) -> list[Prediction]:
    """Find the discs; images without a fundus get no verdict and are not scored at all."""
    locs = locate_discs([s.image for s in batch])
    found = [(s, loc) for s, loc in zip(batch, locs, strict=True) if fundus_found(s.image, loc)]
    scored = {}
    step = score_chunk(model.work())
    for start in range(0, len(found), step):
        chunk = found[start:start + step]
        for (s, loc), p in zip(chunk, _probabilities(model, chunk), strict=True):
            scored[id(s)] = Prediction(s.name, status=NON_FINITE) if np.isnan(p) else Prediction(
                s.name, float(p), int(p >= model.threshold),
                float(loc.x * s.scale[0] - s.offset[0]), float(loc.y * s.scale[1] - s.offset[1]))
    return [scored.get(id(s), Prediction(s.name, status=NO_FUNDUS)) for s in batch]


def _probabilities(model: Model, chunk: list) -> np.ndarray:
    """The model's probabilities, NaN for an image whose computation overflowed or went
    NaN at any step (floating-point errors raise, so an inf cannot turn into p = 1.000); a
    failing chunk is retried image by image, so only the images that overflow lose a verdict."""
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            x = model.inputs([s.image for s, _ in chunk], [loc for _, loc in chunk])
            p = np.asarray(model.predict_proba(x, locations_frame(
                [s.name for s, _ in chunk], [loc for _, loc in chunk])), np.float64)
    except FloatingPointError:
        if len(chunk) == 1:
            return np.array([np.nan])
        return np.concatenate([_probabilities(model, [item]) for item in chunk])
    return np.where(np.isfinite(p) & (p >= 0) & (p <= 1), p, np.nan)


def predict_stream(inputs: Iterable, model: Model | None = None,
                   batch_size: int = 32) -> Iterator[Prediction]:
    """Yield one Prediction per input image, in order, holding at most one batch of 512x512
    working squares in memory; results without a square waiting before them come at once."""
    model = model if model is not None else load_model()
    pending: list[_Square | Prediction] = []
    n_squares = 0

    def flush() -> Iterator[Prediction]:
        good = [item for item in pending if isinstance(item, _Square)]
        scored = iter(_score_batch(model, good) if good else [])
        for item in pending:
            yield item if isinstance(item, Prediction) else next(scored)
        pending.clear()

    for index, item in enumerate(iter_inputs(inputs)):
        read = item if isinstance(item, Prediction) else _read(item, index)
        if isinstance(read, Prediction) and not n_squares:
            yield read
            continue
        pending.append(read)
        n_squares += isinstance(read, _Square)
        if n_squares >= batch_size:
            yield from flush()
            n_squares = 0
    yield from flush()


def predict(paths_or_arrays, weights: str | Path | None = None, batch_size: int = 32,
            as_frame: bool = True) -> pd.DataFrame | list[Prediction]:
    """Glaucoma probability, label at the model's threshold and disc position for each image.

    ``paths_or_arrays``: a path, an (H, W, 3) uint8 array, or a list of paths (files or folders)
    and arrays. Returns a DataFrame (columns CSV_COLUMNS, one row per input image, in order)
    or, with as_frame=False, a list of Prediction.
    """
    if isinstance(paths_or_arrays, str | Path | np.ndarray):
        paths_or_arrays = [paths_or_arrays]
    model = load_model(weights)
    results = list(predict_stream(paths_or_arrays, model, batch_size))
    if not as_frame:
        return results
    return pd.DataFrame([asdict(r) for r in results], columns=CSV_COLUMNS)


class CsvWriter:
    """Rows go to a temp file in the target folder; ``commit`` renames it into place. The file
    gets the mode open() would give a new file (0644 under the usual umask), not mkstemp's 0600."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp",
                                        dir=self.path.parent)
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        # Names that are not valid UTF-8 are written back as their original bytes, so the
        # CSV's path column opens the very file (read it with errors="surrogateescape").
        self.fh = os.fdopen(fd, "w", newline="", encoding="utf-8", errors="surrogateescape")
        self.writer = csv.writer(self.fh)
        self.writer.writerow(CSV_COLUMNS)

    def write(self, p: Prediction) -> None:
        """One row per input; without a verdict the numbers are left empty, the status says why."""
        numbers = ([f"{p.probability:.6f}", p.label, f"{p.disc_x:.1f}", f"{p.disc_y:.1f}"]
                   if p.ok else ["", "", "", ""])
        self.writer.writerow([p.path, *numbers, p.status])

    def commit(self) -> None:
        self.fh.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.fh.close()
        Path(self.tmp).unlink(missing_ok=True)
