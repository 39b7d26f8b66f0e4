"""One cache for arrays computed from image files (decoded images, disc crops): .npz files under
.cache/, keyed by the files' names, sizes and mtimes, the parameters and the decode pipeline, so a
changed data set or a changed pipeline is never served stale arrays.
"""

from __future__ import annotations

import hashlib
import warnings
import zipfile
from pathlib import Path

import numpy as np

from glaucoma_lib.data.datasets import DataError
from glaucoma_lib.data.images import PIPELINE
from glaucoma_lib.nn.atomic import atomic_write
from glaucoma_lib.paths import CACHE_DIR


def cache_file(kind: str, paths: list[Path], *params: object) -> Path:
    """.cache/<kind>_<key>.npz for these files and parameters."""
    digest = hashlib.sha256(f"{PIPELINE}\n{kind}\n{params!r}\n".encode())
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise DataError(f"{path}: image file is missing") from None
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode(errors="replace"))
    return CACHE_DIR / f"{kind}_{digest.hexdigest()[:32]}.npz"


def read_cache(path: Path, image_ids: list[str]) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when absent, unreadable or made for other images."""
    try:
        with np.load(path, allow_pickle=False) as cached:
            arrays = {key: cached[key] for key in cached.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if "ids" not in arrays or arrays.pop("ids").tolist() != list(image_ids):
        return None
    return arrays


def write_cache(path: Path, image_ids: list[str], **arrays: np.ndarray) -> None:
    """Best effort and atomic: a read-only project still loads, just without the speed-up."""
    try:
        with atomic_write(path) as out:
            np.savez(out, ids=np.asarray(image_ids, dtype=str), **arrays)
    except OSError as error:
        warnings.warn(f"{path}: cannot write the cache ({error})", stacklevel=3)
