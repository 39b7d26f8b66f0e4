"""No fundus, no verdict: whether a frame looks enough like a fundus photograph to be scored.

A model trained on fundus photographs will score anything, so predict first measures five things
every real photograph has, and gives no verdict when any is below its floor. Every floor is half
the smallest value over the 800 G1020 training images (the first 800 by image number), rounded
down to 0.01; ``no_fundus_floors`` recomputes them (smallest value there in brackets):

- ``confidence`` (0.025): the disc detector's confidence. A black or transparent frame has no
  field of view (NaN), a white or grey one a confidence of 0.
- ``red_excess`` (0.115): mean (R - B) / 255 inside the field of view. Noise can fake a
  confident peak but is grey on average: fundus photographs are red, so a red-free (grey-scale)
  photograph gets no verdict either.
- ``dark_corners`` (1.0): share of the four corner patches (1/16 of the side each way) outside
  the field of view. A photograph's round field leaves its corners black (a non-square one is
  padded black); a frame filled with colour (a red gradient, red noise) has none.
- ``peak`` (125): the brightest value of any channel, 0-255. The disc is always bright; a
  photograph dimmed to 10 % peaks at 25 and its "field" is only the few pixels still above
  the black threshold, so the disc found there is misplaced.
- ``vessel_contrast`` (0.31): mean depth, 0-255, of the dark thin structures in
  green (the vessels, as the detector sees them) inside the field. A smooth coloured disc or
  gradient on black has none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glaucoma_lib.data.images import read_image
from glaucoma_lib.data.loading import image_path, read_labels
from glaucoma_lib.data.split import original_split
from glaucoma_lib.models.disc import (
    DiscLocation,
    fundus_mask,
    locate_disc,
    masked_smooth,
    smooth,
    to_work_size,
)

FLOORS = {"confidence": 0.01, "red_excess": 0.05, "dark_corners": 0.5, "peak": 62.5,
          "vessel_contrast": 0.15}
CORNER = 16  # corner patches are 1/CORNER of the side each way


def red_excess(rgb: np.ndarray) -> float:
    """Mean (R - B) / 255 inside the field of view of one (H, W, 3) uint8 image; NaN if none."""
    inside = fundus_mask(rgb)
    if not inside.any():
        return float("nan")
    pixels = rgb[inside].astype(np.float32)
    return float((pixels[:, 0] - pixels[:, 2]).mean() / 255.0)


def dark_corners(rgb: np.ndarray) -> float:
    """Share of the four corner patches' pixels outside the field of view."""
    h, w = rgb.shape[:2]
    ch, cw = max(h // CORNER, 1), max(w // CORNER, 1)
    outside = ~fundus_mask(rgb)
    patches = [outside[:ch, :cw], outside[:ch, -cw:], outside[-ch:, :cw], outside[-ch:, -cw:]]
    return float(np.mean(patches))


def vessel_contrast(rgb: np.ndarray) -> float:
    """Mean depth of dark thin structures in green inside the field (the detector's vessel map,
    at its working size); NaN if the field has no interior."""
    small = to_work_size(rgb)
    mask = fundus_mask(small)
    inner = smooth(mask.astype(np.float32), 5) > 0.99
    if not inner.any():
        return float("nan")
    green = small[..., 1].astype(np.float32)
    vessels = np.maximum(masked_smooth(green, mask, 2) - green, 0)
    return float(vessels[inner].mean())


def fundus_measures(rgb: np.ndarray, loc: DiscLocation) -> dict[str, float]:
    """The five measures of one (H, W, 3) uint8 frame whose disc the detector put at ``loc``."""
    return {"confidence": loc.confidence, "red_excess": red_excess(rgb),
            "dark_corners": dark_corners(rgb), "peak": float(rgb.max()),
            "vessel_contrast": vessel_contrast(rgb)}


def fundus_found(rgb: np.ndarray, loc: DiscLocation) -> bool:
    """Whether ``rgb`` looks enough like a fundus photograph for a verdict: every measure at or
    above its floor (a NaN measure is not)."""
    measures = fundus_measures(rgb, loc)
    return all(measures[name] >= floor for name, floor in FLOORS.items())


def no_fundus_floors(data_dir: str | Path) -> dict[str, float]:
    """Recompute FLOORS from the training images (G1020: the first 800 by image number): for
    each measure the smallest value there (``min_<name>``) and half of it rounded down to 0.01
    (``floor_<name>``)."""
    ids = original_split(read_labels(data_dir)["imageID"])[0]
    values: dict[str, list[float]] = {name: [] for name in FLOORS}
    for image_id in ids:
        rgb = read_image(image_path(data_dir, image_id))
        for name, value in fundus_measures(rgb, locate_disc(rgb)).items():
            values[name].append(value)
    out = {}
    for name, found in values.items():
        smallest = float(np.nanmin(found))
        out[f"min_{name}"] = smallest
        out[f"floor_{name}"] = float(np.floor(smallest / 2 * 100) / 100)
    return out
