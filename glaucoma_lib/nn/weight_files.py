"""Weight files (.npz) written atomically and read without pickles.

Reading checks before it allocates: every member's uncompressed size in the zip directory
against a budget (what the network's own parameter shapes imply, when the caller knows them),
then every entry's header (shape, dtype, byte size) before its data is decompressed. JSON rides
inside as a UTF-8 byte array, bounded in size and nesting depth before it is parsed. Any problem
is a WeightsError naming the file.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from glaucoma_lib.nn.atomic import atomic_write

MAX_ENTRY_BYTES = 256 * 2**20  # one array; the committed model's largest is 90 kB
MAX_ENTRIES = 1000
MAX_JSON_BYTES = 2**20
MAX_JSON_DEPTH = 32  # the package's own JSON nests at most 4 deep
NPY_HEADER_BYTES = 4096  # a budget's allowance above the data (np.save writes 128 bytes)
NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: nothing else belongs in a weight file


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


def _directory(zf: zipfile.ZipFile, path: Path) -> dict[str, int]:
    """{entry name: largest uncompressed size the zip directory declares for it}."""
    try:
        infos = zf.infolist()
    except Exception as exc:
        raise WeightsError(f"{path}: unreadable archive: {exc}") from exc
    if len(infos) > MAX_ENTRIES:
        raise WeightsError(f"{path}: {len(infos)} entries, above the limit of {MAX_ENTRIES}")
    bad = [i.filename for i in infos if not i.filename.endswith(".npy")]
    if bad:
        raise WeightsError(f"{path}: unexpected non-array entries {bad[:5]}")
    sizes: dict[str, int] = {}
    for info in infos:
        key = info.filename[: -len(".npy")]
        sizes[key] = max(sizes.get(key, 0), info.file_size)
    return sizes


def _check_budget(path: Path, sizes: dict[str, int], budget: dict[str, int]) -> None:
    """Refuse unknown entries and entries larger than their budget, before reading any."""
    unexpected = sorted(set(sizes) - set(budget))
    if unexpected:
        raise WeightsError(f"{path}: unexpected entries {unexpected[:5]}")
    for key, size in sizes.items():
        if size > budget[key] + NPY_HEADER_BYTES:
            raise WeightsError(f"{path}: entry {key!r} unpacks to {size:,} bytes, more than the "
                               f"{budget[key]:,} it can hold here (damaged, or not this network's)")


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
    budget: dict[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """Read a .npz without pickles; any problem raises WeightsError naming the file.

    With `expected` ({name: (shape, dtype)}), the names must match exactly (besides `extra_ok`,
    JSON entries not read here), every array is checked and must be finite. Without it, a
    `budget` ({name: most data bytes}) names the only entries allowed and bounds each one; both
    are checked against the zip directory before any member is decompressed.
    """
    path = Path(path)
    with _open_npz(path) as zf:
        sizes = _directory(zf, path)
        if expected is not None:
            missing = sorted(set(expected) - set(sizes))
            unexpected = sorted(set(sizes) - set(expected) - set(extra_ok))
            if missing or unexpected:
                raise WeightsError(
                    f"{path}: parameter names do not match this network (wrong architecture?): "
                    f"missing {missing}, unexpected {unexpected}"
                )
            budget = {k: math.prod(shape) * np.dtype(dtype).itemsize
                      for k, (shape, dtype) in expected.items()}
            budget.update(dict.fromkeys(extra_ok, MAX_JSON_BYTES))
        if budget is None:
            return {k: _read_member(zf, path, k) for k in sizes}
        _check_budget(path, sizes, budget)
        if expected is None:
            return {k: _read_member(zf, path, k, max_bytes=budget[k]) for k in sizes}
        arrays = {k: _read_member(zf, path, k, expected[k]) for k in expected}
    for key, value in arrays.items():
        if not np.isfinite(value).all():
            raise WeightsError(f"{path}: entry {key!r} contains NaN or inf")
    return arrays


def json_depth(raw: bytes) -> int:
    """Deepest nesting of [ and { outside strings, in one vectorised pass (no recursion)."""
    text = np.frombuffer(raw, np.uint8)
    if text.size == 0:
        return 0
    index = np.arange(text.size)
    backslash = text == ord("\\")
    last_plain = np.maximum.accumulate(np.where(backslash, -1, index))  # before a run of "\"
    run = np.concatenate([[0], (index - last_plain)[:-1]])  # backslashes just before each byte
    quote = (text == ord('"')) & (run % 2 == 0)
    outside = np.cumsum(quote) % 2 == 0  # closing quotes count as outside; they are not brackets
    opens = np.isin(text, (ord("["), ord("{"))) & outside
    closes = np.isin(text, (ord("]"), ord("}"))) & outside
    return int(np.cumsum(opens.astype(np.int64) - closes).max())


def parse_json_entry(path: str | os.PathLike, key: str, array: np.ndarray) -> Any:
    """The JSON that json_entry stored, parsed, after checking its type and nesting depth."""
    if array.dtype != np.uint8 or array.ndim != 1:
        raise WeightsError(f"{path}: entry {key!r} is not a UTF-8 JSON byte string")
    raw = array.tobytes()
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise WeightsError(f"{path}: entry {key!r} nests {depth} deep, above the limit of "
                           f"{MAX_JSON_DEPTH}")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: also ints of 4300+ digits
        raise WeightsError(f"{path}: entry {key!r} is not valid JSON: {exc}") from exc


def read_json_entry(path: str | os.PathLike, key: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The JSON stored under `key` by json_entry, parsed, or None if absent; an entry declaring
    more than ``max_bytes`` is refused from its header."""
    path = Path(path)
    with _open_npz(path) as zf:
        if key + ".npy" not in zf.namelist():
            return None
        array = _read_member(zf, path, key, max_bytes=max_bytes)
    return parse_json_entry(path, key, array)
