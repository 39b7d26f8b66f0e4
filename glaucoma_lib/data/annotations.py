"""G1020's graders' disc and cup outlines, as vertical extents: the vertical cup-to-disc ratio.

``annotations.csv`` gives the top and bottom row of the disc and cup outlines for 624 images, in
the full-resolution frame of the original photographs (whose size is not given), so only ratios
are meaningful. An empty cup means the graders drew no cup outline.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from glaucoma_lib.data.datasets import DataError

ANNOTATIONS_FILE = "annotations.csv"
COLUMNS = ("imageID", "disc_top", "disc_bottom", "cup_top", "cup_bottom")
MAX_FILE_BYTES = 16 * 2**20


def read_annotations(data_dir: str | os.PathLike) -> pd.DataFrame | None:
    """imageID, disc_height, cup_height (NaN without a cup outline) and vcdr = cup / disc
    height; None where the file is absent (the Kaggle copy, the synthetic set)."""
    path = Path(data_dir) / ANNOTATIONS_FILE
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_FILE_BYTES:
        raise DataError(f"{path}: {path.stat().st_size} bytes, more than an outline table can be")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise DataError(f"{path}: not a readable CSV ({error})") from error
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path}: column(s) {missing} missing (found {list(table.columns)})")
    rows = table[list(COLUMNS[1:])].apply(pd.to_numeric, errors="coerce")
    disc = rows["disc_bottom"] - rows["disc_top"]
    cup = rows["cup_bottom"] - rows["cup_top"]
    one_sided = rows["cup_top"].isna() != rows["cup_bottom"].isna()
    bad = ~(disc > 0) | (cup < 0) | (cup > disc) | one_sided
    if bad.any():
        first = table.loc[bad, "imageID"].iloc[0]
        raise DataError(f"{path}: image {first}: disc/cup rows are not a disc with a cup inside")
    return pd.DataFrame({"imageID": table["imageID"].astype(str).str.strip(),
                         "disc_height": disc.to_numpy(float), "cup_height": cup.to_numpy(float),
                         "vcdr": (cup / disc).to_numpy(float)})


def vcdr_score(annotations: pd.DataFrame, image_ids: list[str],
               no_cup: float | None = 0.0) -> np.ndarray:
    """Vertical CDR for each image (NaN where not annotated). An image annotated without a cup
    outline gets ``no_cup`` (0: no visible cup, the reading that favours "healthy"), or NaN
    when ``no_cup`` is None (set aside)."""
    by_image = annotations.set_index("imageID")["vcdr"]
    score = by_image.reindex(image_ids).to_numpy(float, copy=True)
    annotated = np.isin(np.asarray(image_ids), annotations["imageID"].to_numpy())
    if no_cup is not None:
        score[annotated & np.isnan(score)] = no_cup
    return score
