"""Where a model looks: the disc crop, an off-disc crop of the same size, or the whole image.

A model that "looks at the disc" must beat the same model shown a crop of the same size that
excludes the disc. The off-disc crop is centred on the disc's mirror image across the
vertical midline (the other side of the macula), moved further out when that crop would
still touch the disc, and kept inside the image.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from glaucoma_lib.data.cache import cache_file, read_cache, write_cache
from glaucoma_lib.data.images import read_image
from glaucoma_lib.data.loading import image_path
from glaucoma_lib.models.disc import (
    DETECTOR,
    DiscLocation,
    crop_disc,
    load_disc_crop_sets,
)

REGIONS = ("disc", "off-disc")


def off_disc_location(loc: DiscLocation, width: int, height: int, crop_size: int,
                      reference_width: int = 512) -> DiscLocation:
    """Centre of a crop of ``crop_size`` (in pixels of a ``reference_width`` image, as
    crop_disc takes it) that excludes the disc circle: the disc mirrored across the vertical
    midline, pushed away from the disc until the crop clears it, then clamped inside."""
    half = crop_size * min(height, width) / reference_width / 2
    x = width - loc.x
    clearance = half + loc.radius
    if abs(x - loc.x) < clearance:
        x = loc.x + np.copysign(clearance, x - loc.x if x != loc.x else width / 2 - loc.x)
    x = float(np.clip(x, half, width - half))
    return DiscLocation(x, float(np.clip(loc.y, half, height - half)), loc.radius,
                        loc.confidence, "off-disc")


def clears_disc(loc: DiscLocation, centre: DiscLocation, crop_size: int, side: int) -> bool:
    """Whether the crop at ``centre`` keeps out of the disc circle (box-to-circle test)."""
    half = crop_size * side / 512 / 2
    dx = max(abs(loc.x - centre.x) - half, 0.0)
    dy = max(abs(loc.y - centre.y) - half, 0.0)
    return dx * dx + dy * dy >= loc.radius ** 2


def load_region_crops(data_dir: str | os.PathLike, image_ids: list[str], region: str,
                      crop_size: int, out_size: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Crops (N, 3, out, out) uint8 of ``region`` ("disc" or "off-disc") and the table of
    crop centres, with ``clear`` saying whether each off-disc crop misses the disc."""
    if region not in REGIONS:
        raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
    crops, table = load_disc_crop_sets(data_dir, image_ids, [(crop_size, out_size)])[0]
    if region == "disc":
        return crops, table.assign(clear=False)
    paths = [image_path(data_dir, i) for i in image_ids]
    cache = cache_file(f"off_disc_crops_{crop_size}_{out_size}", paths, crop_size, out_size,
                       DETECTOR)
    cached = read_cache(cache, image_ids)
    if cached is None:
        cached = _cut_off_disc(paths, table, crop_size, out_size)
        write_cache(cache, image_ids, **cached)
    out = table.assign(x=cached["x"], y=cached["y"], clear=cached["clear"].astype(bool))
    return cached["crops"], out


def _cut_off_disc(paths: list[Path], table: pd.DataFrame, crop_size: int,
                  out_size: int) -> dict[str, np.ndarray]:
    n = len(paths)
    crops = np.empty((n, 3, out_size, out_size), np.uint8)
    xs, ys, clear = np.empty(n), np.empty(n), np.empty(n, bool)
    rows = table[["x", "y", "radius", "confidence"]].to_numpy(float)
    for i, (path, (x, y, r, c)) in enumerate(zip(paths, rows, strict=True)):
        rgb = read_image(path)
        h, w = rgb.shape[:2]
        disc = DiscLocation(x, y, r, c)
        centre = off_disc_location(disc, w, h, crop_size)
        crops[i] = crop_disc(rgb, centre, crop_size, out_size)
        xs[i], ys[i], clear[i] = centre.x, centre.y, clears_disc(disc, centre, crop_size, min(h, w))
    return {"crops": crops, "x": xs, "y": ys, "clear": clear}
