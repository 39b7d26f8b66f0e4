"""Which patient each photograph belongs to, from the data set's own release.

Folds must keep a patient's photographs together (G1020 and HYGD publish patient identifiers;
EyePACS-AIROGS-light does not). G1020's release also carries the detailed labels and a keyword
note from the clinical diagnosis text, which the label sensitivity analysis reads.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from glaucoma_lib.data.datasets import DataError, dataset_of

MAX_FILE_BYTES = 16 * 2**20  # the real files are ~100 kB


def _read_table(path: Path) -> pd.DataFrame:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise DataError(f"{path}: {path.stat().st_size} bytes, more than a patient table can be")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise DataError(f"{path}: not a readable CSV ({error})") from error


def patient_table(data_dir: str | os.PathLike) -> pd.DataFrame | None:
    """The release's per-image table (id column renamed imageID, patient column renamed
    patientID), or None where the data set publishes no patients or the file is absent."""
    dataset = dataset_of(data_dir)
    if dataset.patient_column is None:
        return None
    path = Path(data_dir) / (dataset.patients_file or dataset.labels_file)
    if not path.is_file():
        return None
    table = _read_table(path)
    for column in (dataset.id_column, dataset.patient_column):
        if column not in table.columns:
            raise DataError(f"{path}: column {column!r} is missing (found {list(table.columns)})")
    table = table.rename(columns={dataset.id_column: "imageID",
                                  dataset.patient_column: "patientID"})
    table["imageID"] = table["imageID"].str.strip()
    table["patientID"] = table["patientID"].str.strip()
    if table["imageID"].duplicated().any():
        first = table.loc[table["imageID"].duplicated(), "imageID"].iloc[0]
        raise DataError(f"{path}: image {first} is listed more than once")
    if (table["patientID"] == "").any():
        first = table.loc[table["patientID"] == "", "imageID"].iloc[0]
        raise DataError(f"{path}: image {first} has no patient identifier")
    return table


def patient_ids(data_dir: str | os.PathLike, image_ids: list[str]) -> np.ndarray | None:
    """Patient identifier of each image in ``image_ids`` (strings), or None where unpublished."""
    table = patient_table(data_dir)
    if table is None:
        return None
    by_image = dict(zip(table["imageID"], table["patientID"], strict=True))
    missing = [i for i in image_ids if i not in by_image]
    if missing:
        dataset = dataset_of(data_dir)
        name = dataset.patients_file or dataset.labels_file
        raise DataError(f"{Path(data_dir) / name}: no patient for {len(missing)} image(s), "
                        f"e.g. {missing[0]}")
    return np.array([by_image[i] for i in image_ids])


def neighbour_same_patient(patients: np.ndarray) -> tuple[int, int]:
    """(pairs of images adjacent in image-number order that are the same patient, all such
    pairs), for ``patients`` in image-number order: whether neighbouring numbers are related is
    read from the release, not guessed from the pictures."""
    patients = np.asarray(patients)
    return int(np.sum(patients[1:] == patients[:-1])), max(len(patients) - 1, 0)
