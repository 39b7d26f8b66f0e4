"""How files are written and weight files read.

Writes are atomic: a temp file in the target's folder, renamed into place only when complete, so
a crash, Ctrl-C or bad input midway never leaves a half-written file and never destroys the
previous version. Weight files (.npz) are read without pickles, every entry's header (shape,
dtype, byte size) checked against limits before its data is decompressed; JSON rides inside them
as a UTF-8 byte array of at most MAX_JSON_BYTES. The require_* checks turn a stored value of the
wrong type or range into a ValueError naming the field, which loaders report as a WeightsError.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

MAX_ENTRY_BYTES = 256 * 2**20  # one array; the committed model's largest is 90 kB
MAX_ENTRIES = 1000
MAX_JSON_BYTES = 2**20
NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: nothing else belongs in a weight file


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", **open_kwargs) -> Iterator[IO]:
    """Open a temp file beside ``path``; on a clean exit it replaces ``path``, else it vanishes.

    Writers get a handle, not a name, so np.savez cannot append ".npz" to the temp name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, data: Any, default=None) -> Path:
    """Indented JSON, atomically; ``default`` converts what json cannot (as in json.dump)."""
    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, default=default, allow_nan=True)
        fh.write("\n")
    return path


class WeightsError(ValueError):
    """A weight file that cannot be used; the message names the file and the problem."""


def json_entry(data: Any) -> np.ndarray:
    """JSON as a uint8 array, the one way metadata is stored inside an .npz."""
    return np.frombuffer(json.dumps(data, sort_keys=True).encode("utf-8"), dtype=np.uint8)


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """np.savez, atomically: never a half-written weight file."""
    path = Path(path)
    with atomic_write(path) as fh:
        np.savez(fh, **arrays)
    return path


def _open_npz(path: Path) -> zipfile.ZipFile:
    if not path.exists():
        raise WeightsError(f"{path}: file not found")
    if not path.is_file():
        raise WeightsError(f"{path}: not a regular file (a folder, FIFO or device)")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path}: file is empty")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        problem = f"not a .npz archive (truncated or wrong format): {exc}"
        raise WeightsError(f"{path}: {problem}") from exc


def _read_member(zf: zipfile.ZipFile, path: Path, key: str, expect=None,
                 max_bytes: int = MAX_ENTRY_BYTES) -> np.ndarray:
    """Read one .npy member, checking its header (dtype, shape, byte size) before reading data."""
    try:
        with zf.open(key + ".npy") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            if dtype.hasobject:
                raise WeightsError(f"{path}: entry {key!r} holds Python objects; refusing to load")
            if dtype.kind not in NUMERIC_KINDS or dtype.itemsize > 8:
                raise WeightsError(f"{path}: entry {key!r} has dtype {dtype}, not a plain number")
            if expect is not None and (shape, dtype) != (tuple(expect[0]), np.dtype(expect[1])):
                raise WeightsError(
                    f"{path}: entry {key!r} is {dtype}{list(shape)}, "
                    f"expected {np.dtype(expect[1])}{list(expect[0])} (wrong architecture?)"
                )
            size = math.prod(shape) * dtype.itemsize
            if size > max_bytes:
                raise WeightsError(f"{path}: entry {key!r} declares {list(shape)} = {size:,} "
                                   f"bytes, above the limit of {max_bytes:,}")
            if size > zf.getinfo(key + ".npy").file_size:
                raise WeightsError(f"{path}: entry {key!r} is truncated")
            data = fh.read(size)
    except WeightsError:
        raise
    except Exception as exc:  # any malformed zip member or header
        raise WeightsError(f"{path}: entry {key!r} is corrupt: {exc}") from exc
    if len(data) != size:
        raise WeightsError(f"{path}: entry {key!r} is truncated")
    array = np.frombuffer(data, dtype=dtype)
    array = array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
    return array.copy()  # writable and owning its memory


def read_npz(
    path: str | os.PathLike,
    expected: dict[str, tuple] | None = None,
    extra_ok: tuple[str, ...] = (),
) -> dict[str, np.ndarray]:
    """Read a .npz without pickles. With `expected` ({name: (shape, dtype)}), the names must
    match exactly (besides `extra_ok`), every array is checked and must be finite.
    Any problem raises WeightsError naming the file."""
    path = Path(path)
    with _open_npz(path) as zf:
        try:
            names = zf.namelist()
        except Exception as exc:
            raise WeightsError(f"{path}: unreadable archive: {exc}") from exc
        if len(names) > MAX_ENTRIES:
            raise WeightsError(f"{path}: {len(names)} entries, above the limit of {MAX_ENTRIES}")
        bad = [n for n in names if not n.endswith(".npy")]
        if bad:
            raise WeightsError(f"{path}: unexpected non-array entries {bad[:5]}")
        keys = [n[: -len(".npy")] for n in names]
        if expected is None:
            return {k: _read_member(zf, path, k) for k in keys}
        missing = sorted(set(expected) - set(keys))
        unexpected = sorted(set(keys) - set(expected) - set(extra_ok))
        if missing or unexpected:
            raise WeightsError(
                f"{path}: parameter names do not match this network (wrong architecture?): "
                f"missing {missing}, unexpected {unexpected}"
            )
        arrays = {k: _read_member(zf, path, k, expected[k]) for k in expected}
    for key, value in arrays.items():
        if not np.isfinite(value).all():
            raise WeightsError(f"{path}: entry {key!r} contains NaN or inf")
    return arrays


def read_json_entry(path: str | os.PathLike, key: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The JSON stored under `key` by json_entry, parsed, or None if absent; an entry declaring
    more than ``max_bytes`` is refused from its header."""
    path = Path(path)
    with _open_npz(path) as zf:
        if key + ".npy" not in zf.namelist():
            return None
        array = _read_member(zf, path, key, max_bytes=max_bytes)
    if array.dtype != np.uint8 or array.ndim != 1:
        raise WeightsError(f"{path}: entry {key!r} is not a UTF-8 JSON byte string")
    try:
        text = array.tobytes().decode("utf-8")
        parsed = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: entry {key!r} is not valid JSON: {exc}") from exc
    return parsed


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def require_int(field: str, value: Any, lo: int, hi: int) -> int:
    """An integer (not a bool, not a float) in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        raise ValueError(f"{field} must be an integer in [{lo}, {hi}], got {_shown(value)}")
    return int(value)


def require_number(field: str, value: Any, lo: float = -math.inf, hi: float = math.inf,
                   open_low: bool = False, open_high: bool = False) -> float:
    """A finite real number (not a bool) in the range; open ends exclude the bound itself."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (lo < value if open_low else lo <= value) and (
        value < hi if open_high else value <= hi)
    if not ok:
        low, high = "(" if open_low else "[", ")" if open_high else "]"
        raise ValueError(f"{field} must be a finite number in {low}{lo}, {hi}{high}, "
                         f"got {_shown(value)}")
    return float(value)


def require_bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{field} must be true or false, got {_shown(value)}")
    return value


def require_dict(field: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{field} must be a JSON object, got {_shown(value)}")
    return value


def require_numbers(field: str, value: Any, length: int | None = None) -> np.ndarray:
    """A list of finite numbers (of ``length`` if given) as float64."""
    if not isinstance(value, list) or (length is not None and len(value) != length):
        want = "a list" if length is None else f"a list of {length}"
        got = f"{len(value)} values" if isinstance(value, list) else _shown(value)
        raise ValueError(f"{field} must be {want} numbers, got {got}")
    for i, v in enumerate(value):
        require_number(f"{field}[{i}]", v)
    return np.asarray(value, np.float64)
