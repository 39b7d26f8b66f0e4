"""Glaucoma probability for new fundus photographs with the committed (or a given) model.

Images stream through in small batches (read, find the disc, crop, score), so memory does not
grow with the number of images. Every input gets exactly one result: an image that cannot be
scored keeps its place with a ``status`` saying why (e.g. "unreadable: ..."), never fatal.
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
from glaucoma_lib.models.disc import fundus_found, locate_discs, locations_frame
from glaucoma_lib.models.kinds import Model, load_model

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}
SIDE = 512
CSV_COLUMNS = ["path", "probability", "label", "disc_x", "disc_y", "status"]
OK = "ok"
NO_FUNDUS = "no fundus found"


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


def iter_inputs(inputs: Iterable) -> Iterator[str | np.ndarray]:
    """Arrays as they are; files as given; folders walked (sorted) for image files."""
    for item in inputs:
        if isinstance(item, np.ndarray):
            yield item
            continue
        path = Path(item)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    found = Path(root) / name
                    if found.suffix.lower() in IMAGE_SUFFIXES and found.is_file():
                        yield str(found)  # regular files only: a FIFO would block the read
        else:
            yield str(path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def output_clash(out: str | os.PathLike, inputs: Iterable) -> str | None:
    """Why writing ``out`` would destroy an input (None if it would not): it is an input, the same
    file under another name (symlink, hard link), or an image file inside an input folder."""
    out = Path(out)
    target = out.resolve()
    for item in inputs:
        if isinstance(item, np.ndarray):
            continue
        given = Path(item)
        if target == given.resolve() or _same_file(out, given):
            return f"{out} is also an input ({given}); refusing to overwrite it"
        inside = given.is_dir() and given.resolve() in target.parents
        if inside and out.suffix.lower() in IMAGE_SUFFIXES:
            return f"{out} is inside the input folder {given} and would be scored; refusing"
    return None


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
    if found:
        x = model.inputs([s.image for s, _ in found], [loc for _, loc in found])
        prob = model.predict_proba(x, locations_frame([s.name for s, _ in found],
                                                      [loc for _, loc in found]))
        for (s, loc), p in zip(found, prob, strict=True):
            scored[id(s)] = Prediction(s.name, float(p), int(p >= model.threshold),
                                       float(loc.x * s.scale[0] - s.offset[0]),
                                       float(loc.y * s.scale[1] - s.offset[1]))
    return [scored.get(id(s), Prediction(s.name, status=NO_FUNDUS)) for s in batch]


def predict_stream(inputs: Iterable, model: Model | None = None,
                   batch_size: int = 32) -> Iterator[Prediction]:
    """Yield one Prediction per input image, in order, holding at most one batch of 512x512
    working squares in memory."""
    model = model if model is not None else load_model()
    pending: list[_Square | Prediction] = []

    def flush() -> Iterator[Prediction]:
        good = [item for item in pending if isinstance(item, _Square)]
        scored = iter(_score_batch(model, good) if good else [])
        for item in pending:
            yield item if isinstance(item, Prediction) else next(scored)
        pending.clear()

    for index, item in enumerate(iter_inputs(inputs)):
        pending.append(_read(item, index))
        if sum(isinstance(p, _Square) for p in pending) >= batch_size:
            yield from flush()
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
    """Rows go to a temp file in the target folder; ``commit`` renames it into place."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp",
                                        dir=self.path.parent)
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
