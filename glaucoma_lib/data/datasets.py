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

    @property
    def default_dir(self) -> Path:
        """data/<name> inside the project (git-ignored)."""
        return DATA_DIR / self.name

    def folder_in(self, path: Path) -> Path | None:
        """The folder holding the label file: ``path`` itself or its <name>/ subfolder."""
        for folder in (path, path / self.name):
            if (folder / self.labels_file).is_file():
                return folder
        return None


G1020 = Dataset(
    name="G1020",
    env_var="GLAUCOMA_DATA",
    labels_file="G1020.csv",
    images_dir="Images_Square",
    id_column="imageID",
    label_column="binaryLabels",
    how_to_get='Kaggle data set "glaucoma-datasets", folder G1020 (G1020.csv plus Images_Square/)',
    citation="Bajwa, Nazir, Lücken et al., G1020: A Benchmark Retinal Fundus Image Dataset for "
             "Computer-Aided Glaucoma Detection, 2020, arXiv:2006.09158",
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

DATASETS = (G1020, AIROGS)


def dataset_of(folder: str | Path) -> Dataset:
    """Which description a data folder follows, told by its label file (the synthetic set has
    G1020's layout)."""
    for dataset in DATASETS:
        if (Path(folder) / dataset.labels_file).is_file():
            return dataset
    names = ", ".join(d.labels_file for d in DATASETS)
    raise DataError(f"{folder}: no label file of a known data set here (looked for {names})")
