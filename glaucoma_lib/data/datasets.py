"""The data sets, each described once: where its labels and images are and how to get it.

A second data set is one more description here, not a copy of the loader:
``glaucoma_lib.data.loading`` reads any folder laid out as one of these describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from glaucoma_lib.paths import DATA_DIR

SYNTHETIC_MARKER = "SYNTHETIC_DATA.txt"  # present only in the embedded synthetic set


class DataError(ValueError):
    """Bad input data; the message names the file and the problem."""


class DataNotFoundError(DataError):
    """No data set where we looked."""


@dataclass(frozen=True)
class Dataset:
    """One data set's layout: a label CSV (image file name, 0/1 label) beside an image folder."""

    name: str
    env_var: str  # environment variable that may point at the folder
    labels_file: str
    images_dir: str
    id_column: str
    label_column: str
    how_to_get: str
    citation: str
    # Patient identifiers, where the release publishes them: a column of the label file
    # (patients_file None) or of a file of its own beside it (keyed by id_column).
    patient_column: str | None = None
    patients_file: str | None = None

    @property
    def default_dir(self) -> Path:
        """data/<name> inside the project (git-ignored)."""
        return DATA_DIR / self.name

    def folder_in(self, path: Path) -> Path | None:
        """The folder holding the label file: ``path`` itself or its <name>/ subfolder."""
        for folder in (path, path / self.name):
            if self.describes(folder):
                return folder
        return None

    def describes(self, folder: Path) -> bool:
        """Whether ``folder`` is laid out as this data set: its label file is there and, when
        the patients are a column of the label file, its header names that column (two data
        sets both call their label file labels.csv)."""
        labels = Path(folder) / self.labels_file
        if not labels.is_file():
            return False
        if self.patient_column is None or self.patients_file is not None:
            return True
        with open(labels, encoding="utf-8", errors="replace") as f:
            header = f.readline(4096)
        return self.patient_column in [name.strip() for name in header.split(",")]


G1020 = Dataset(
    name="G1020",
    env_var="GLAUCOMA_DATA",
    labels_file="G1020.csv",
    images_dir="Images_Square",
    id_column="imageID",
    label_column="binaryLabels",
    how_to_get='Kaggle data set "glaucoma-datasets", folder G1020 (G1020.csv plus Images_Square/)',
    citation="Bajwa, Singh, Neumeier, Malik, Dengel, Ahmed, G1020: A Benchmark Retinal Fundus "
             "Image Dataset for Computer-Aided Glaucoma Detection, 2020, arXiv:2006.09158",
    patient_column="patientID",
    patients_file="G1020_patients.csv",
)

AIROGS = Dataset(
    name="EyePACS-AIROGS-light",
    env_var="AIROGS_DATA",
    labels_file="labels.csv",
    images_dir="images",
    id_column="image",
    label_column="label",
    how_to_get="EyePACS-AIROGS-light-v2 (600 images: images/ plus labels.csv, image,label)",
    citation="de Vente et al., AIROGS: Artificial Intelligence for RObust Glaucoma Screening "
             "Challenge, IEEE Transactions on Medical Imaging, 2024, arXiv:2302.01738",
)

HYGD = Dataset(
    name="HYGD",
    env_var="HYGD_DATA",
    labels_file="labels.csv",
    images_dir="images",
    id_column="image",
    label_column="label",
    how_to_get="Hillel Yaffe Glaucoma Dataset, PhysioNet 1.0.0 (images/ plus labels.csv: "
               "image,label,patient,quality)",
    citation="Abramovich et al., Hillel Yaffe Glaucoma Dataset (HYGD), PhysioNet, version 1.0.0, "
             "2025",
    patient_column="patient",
)

# HYGD before AIROGS: both label files are labels.csv, and only HYGD's has a patient column.
DATASETS = (G1020, HYGD, AIROGS)


def dataset_of(folder: str | Path) -> Dataset:
    """Which description a data folder follows, told by its label file (the synthetic set has
    G1020's layout)."""
    for dataset in DATASETS:
        if dataset.describes(Path(folder)):
            return dataset
    names = ", ".join(d.labels_file for d in DATASETS)
    raise DataError(f"{folder}: no label file of a known data set here (looked for {names})")
