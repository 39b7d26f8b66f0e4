"""The report build's arguments and data paths, checked before the build creates anything: a
mistake costs one line and exit code 2, not a traceback minutes into the build (or a build
folder left behind).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from glaucoma_lib.data.datasets import (
    AIROGS,
    G1020,
    HYGD,
    DataError,
    DataNotFoundError,
    Dataset,
)
from glaucoma_lib.data.loading import data_checksum, find_data_dir, find_optional

MAX_SEED = 2**32 - 1  # the notebooks' own limit (report.params)
MAX_JOBS = 256  # likewise


class InputError(ValueError):
    """A build argument or data path that cannot be used; the message names it."""


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high, else one line saying so."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {low} to {high}")
        return value
    return parse


def data_folder(data_dir: str | None) -> tuple[Path, bool, str]:
    """The G1020 folder (or the synthetic set), whether it is synthetic, and its checksum."""
    try:
        folder, synthetic = find_data_dir(data_dir)
        return folder, synthetic, data_checksum(folder)
    except DataNotFoundError:
        raise InputError(_not_there(G1020, data_dir, "--data-dir")) from None
    except DataError as error:
        raise InputError(str(error)) from None
    except OSError as error:
        raise InputError(f"{error.filename}: {error.strerror} (reading the "
                         f"{G1020.name} data)") from None


def check_optional(dataset: Dataset, folder: str | None, option: str) -> None:
    """A configured folder of an optional data set (AIROGS, HYGD) must hold the data: the
    notebooks that read it would stop on it otherwise."""
    try:
        find_optional(dataset, folder)
    except DataNotFoundError:
        raise InputError(_not_there(dataset, folder, option)) from None


def check_airogs(airogs_dir: str | None) -> None:
    check_optional(AIROGS, airogs_dir, "--airogs-dir")


def check_hygd(hygd_dir: str | None) -> None:
    check_optional(HYGD, hygd_dir, "--hygd-dir")


def report_folder(out: Path) -> Path:
    """<out>/report, created (with <out>) if need be: the first thing a build creates."""
    folder = out / "report"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--out {out}: cannot create {folder} ({error.strerror})") from None
    if not folder.is_dir():  # mkdir(exist_ok=True) accepts a symlink to a file
        raise InputError(f"--out {out}: {folder} is not a folder")
    return folder


def _not_there(dataset: Dataset, path: str | None, option: str) -> str:
    """One line for the one place given (DataNotFoundError lists every place looked in)."""
    given = (f"{option} {path}" if path is not None
             else f"${dataset.env_var}={os.environ.get(dataset.env_var, '')}")
    return (f"{given}: no {dataset.labels_file} there or in {dataset.name}/ below it (the "
            f"{dataset.name} folder holds {dataset.labels_file} and {dataset.images_dir}/)")
