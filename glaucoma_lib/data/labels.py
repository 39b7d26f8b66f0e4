"""Reading a data set's label file: every row checked, every problem named with file and line.

Labels are returned under the project's own column names (imageID, binaryLabels), whatever the
data set's file calls them, sorted by image number.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from glaucoma_lib.data.datasets import DataError, dataset_of
from glaucoma_lib.data.split import image_number, sort_by_image_number

LABEL_COLUMNS = ("imageID", "binaryLabels")
CLASS_NAMES = ("healthy", "glaucoma")  # binaryLabels 0 and 1


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


def _header_columns(csv_path: Path, header: list[str], columns: tuple[str, str]) -> tuple[int, int]:
    names = [name.strip() for name in header]
    for name in columns:
        if names.count(name) != 1:
            problem = "is missing" if name not in names else "appears more than once"
            raise DataError(
                f"{csv_path}: column {name!r} {problem}; the header must contain "
                f"{','.join(columns)} (found {names!r})"
            )
    return names.index(columns[0]), names.index(columns[1])


def _parse_rows(
    csv_path: Path, text: str, columns: tuple[str, str]
) -> tuple[list[str], list[int]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    ids: list[str] = []
    labels: list[int] = []
    id_col = label_col = None
    for row in reader:
        if not any(field.strip() for field in row):
            continue
        if id_col is None:
            id_col, label_col = _header_columns(csv_path, row, columns)
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
        raise DataError(
            f"{csv_path}: the file is empty (expected header {','.join(columns)})"
        )
    return ids, labels


def read_labels(data_dir: str | os.PathLike) -> pd.DataFrame:
    """The data set's label file validated, as imageID (str) and binaryLabels (int64), sorted by
    image number, whatever the file calls its two columns.

    Tolerated on purpose: a UTF-8 BOM, Windows line endings, blank lines, extra columns
    (ignored), whitespace around fields, labels written as 1.0. Everything else is a DataError.
    """
    dataset = dataset_of(data_dir)
    csv_path = Path(data_dir) / dataset.labels_file
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
        ids, labels = _parse_rows(csv_path, text, (dataset.id_column, dataset.label_column))
    except csv.Error as error:
        raise DataError(f"{csv_path}: not a readable CSV file ({error})") from None
    if not ids:
        raise DataError(f"{csv_path}: no labelled images below the header")
    duplicated = sorted(pd.Index(ids)[pd.Index(ids).duplicated()].unique())
    if duplicated:
        raise DataError(
            f"{csv_path}: {len(duplicated)} imageID(s) appear more than once, e.g. {duplicated[:5]}"
        )
    frame = pd.DataFrame({LABEL_COLUMNS[0]: ids, LABEL_COLUMNS[1]: np.asarray(labels, np.int64)})
    order = sort_by_image_number(ids)
    return frame.set_index(LABEL_COLUMNS[0]).loc[order].reset_index()
