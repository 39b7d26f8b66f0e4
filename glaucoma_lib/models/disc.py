"""Optic-disc localisation and disc crops, NumPy and Pillow only.

Glaucoma shows at the optic disc (cupping, rim thinning), which covers ~1% of a fundus photograph;
a small network on the whole downscaled image cannot see it. So we find the disc first: it is the
brightest large blob inside the fundus and the place where the big vessels converge. Detection runs
on a 128x128 copy (fast, vectorised over a batch); crops are then cut at native resolution.
When the full Kaggle copy's ``Masks/`` folder exists, its disc masks replace the detector
(``Images_Cropped/`` is not used: its geometry relative to the square images is not documented).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from glaucoma_lib.data.cache import cache_file, read_cache, write_cache
from glaucoma_lib.data.images import read_image
from glaucoma_lib.data.loading import image_path

WORK_SIZE = 128
MASK_FOLDER = "Masks"
# Part of every disc cache key: a changed detector must not be served the old locations.
DETECTOR = "detector-2"


@dataclass(frozen=True)
class DiscLocation:
    """Disc centre and radius in native pixels of its image; confidence in [0, 1]."""

    x: float
    y: float
    radius: float
    confidence: float
    source: str = "detector"


def box_blur(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window on the last two axes via cumulative sums (edge-padded)."""
    if r < 1:
        return a
    k = 2 * r + 1
    pad = [(0, 0)] * (a.ndim - 2) + [(r + 1, r), (r + 1, r)]
    p = np.pad(a, pad, mode="edge").cumsum(axis=-2).cumsum(axis=-1)
    s = p[..., k:, k:] - p[..., :-k, k:] - p[..., k:, :-k] + p[..., :-k, :-k]
    return s / np.float32(k * k)


def smooth(a: np.ndarray, r: int) -> np.ndarray:
    """Three box blurs approximate a Gaussian of sigma ~ r."""
    for _ in range(3):
        a = box_blur(a, r)
    return a


def masked_smooth(a: np.ndarray, mask: np.ndarray, r: int) -> np.ndarray:
    """Normalised convolution: blur only over fundus pixels so the black border does not leak in."""
    m = mask.astype(np.float32)
    return smooth(a * m, r) / np.maximum(smooth(m, r), 1e-3)


def fundus_mask(rgb: np.ndarray, threshold: int = 20) -> np.ndarray:
    """Pixels inside the circular field of view (the surround of a fundus photo is near black)."""
    return rgb.max(axis=-1) > threshold


def inner_mask(mask: np.ndarray, r: int = 5) -> np.ndarray:
    """The field of view eroded by ~2r pixels, where a disc centre may lie. Outside the image
    counts as outside the field: where the field of view is cut by the image's edge (common on
    EyePACS-AIROGS), an edge-padded blur would keep the bright rim at the border as interior."""
    pad = 3 * r + 1  # the support of smooth's three box blurs
    m = np.pad(mask.astype(np.float32), [(0, 0)] * (mask.ndim - 2) + [(pad, pad)] * 2)
    return smooth(m, r)[..., pad:-pad, pad:-pad] > 0.99


def to_work_size(rgb: np.ndarray) -> np.ndarray:
    """Resize one (H, W, 3) uint8 image to the detector's working resolution."""
    img = Image.fromarray(rgb).resize((WORK_SIZE, WORK_SIZE), Image.BILINEAR)
    return np.asarray(img)


def _zscore(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.float32)
    n = m.sum(axis=(-2, -1), keepdims=True).clip(1)
    mean = (a * m).sum(axis=(-2, -1), keepdims=True) / n
    std = np.sqrt((((a - mean) * m) ** 2).sum(axis=(-2, -1), keepdims=True) / n) + 1e-6
    return (a - mean) / std


def disc_score_maps(small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score map (N, h, w) for disc centres and the eroded fundus mask, from (N, h, w, 3) uint8.

    Brightness: green+blue luminance relative to its broad local background (removes uneven
    illumination), blurred at the disc scale. Vessels: dark thin structures in green, whose density
    peaks where the vessel tree enters the disc. Both are z-scored inside the fundus and summed.
    """
    x = small.astype(np.float32)
    mask = fundus_mask(small)
    inner = inner_mask(mask)
    lum = 0.25 * x[..., 0] + 0.5 * x[..., 1] + 0.25 * x[..., 2]
    background = masked_smooth(lum, mask, 16)
    bright = masked_smooth(lum - background, mask, 4)
    green = x[..., 1]
    vessels = np.maximum(masked_smooth(green, mask, 2) - green, 0) * mask
    vessel_density = masked_smooth(vessels, mask, 8)
    score = _zscore(bright, inner) + 0.5 * _zscore(vessel_density, inner)
    return np.where(inner, score, -np.inf).astype(np.float32), inner


def _radius_from_blob(bright: np.ndarray, cy: int, cx: int) -> float:
    """Radius (work pixels) of the above-half-peak region around the peak, clipped to disc sizes."""
    h, w = bright.shape
    y0, y1, x0, x1 = max(cy - 20, 0), min(cy + 21, h), max(cx - 20, 0), min(cx + 21, w)
    win = bright[y0:y1, x0:x1]
    level = np.median(win) + 0.5 * (bright[cy, cx] - np.median(win))
    area = float((win > level).sum())
    return float(np.clip(np.sqrt(area / np.pi), 0.035 * h, 0.12 * h))


def locate_discs_small(small: np.ndarray) -> np.ndarray:
    """Detect discs in (N, h, w, 3) uint8; returns (N, 4): x, y, radius, confidence (work px).

    Confidence compares the best peak with the best peak at least two disc diameters away
    (a clear single bright blob -> near 1; two similar candidates -> near 0).
    """
    score, _ = disc_score_maps(small)
    n, h, w = score.shape
    flat = score.reshape(n, -1)
    idx = flat.argmax(axis=1)
    cy, cx = np.divmod(idx, w)
    yy, xx = np.mgrid[0:h, 0:w]
    dist2 = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2
    far = dist2 > (0.16 * h) ** 2
    best = flat[np.arange(n), idx]
    second = np.where(far, score, -np.inf).reshape(n, -1).max(axis=1)
    second = np.where(np.isfinite(second), second, best - 4.0)
    with np.errstate(invalid="ignore"):  # no fundus pixel at all: -inf - -inf, NaN on purpose
        gap = best - second
    confidence = 1.0 - np.exp(-np.maximum(gap, 0.0))
    x = small.astype(np.float32)
    lum = 0.25 * x[..., 0] + 0.5 * x[..., 1] + 0.25 * x[..., 2]
    bright = smooth(lum, 1)
    radius = np.array([_radius_from_blob(bright[i], cy[i], cx[i]) for i in range(n)])
    return np.stack([cx + 0.5, cy + 0.5, radius, confidence], axis=1).astype(np.float32)


def location_from_mask(mask: np.ndarray) -> DiscLocation:
    """Disc from a data-set mask image: centroid and equal-area radius of its non-zero pixels."""
    m = mask.reshape(mask.shape[0], mask.shape[1], -1).max(axis=-1) > 0
    if not m.any():
        raise ValueError("disc mask is empty")
    ys, xs = np.nonzero(m)
    return DiscLocation(float(xs.mean() + 0.5), float(ys.mean() + 0.5),
                        float(np.sqrt(m.sum() / np.pi)), 1.0, "mask")


def read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A data-set mask brought to an image's (H, W). Masks drawn on the full-resolution,
    non-square photograph are padded to a centred square first, as the square images were."""
    mask = Image.open(path).convert("L")
    w, h = mask.size
    if w != h and shape[0] == shape[1]:
        square = Image.new("L", (max(w, h), max(w, h)))
        square.paste(mask, ((max(w, h) - w) // 2, (max(w, h) - h) // 2))
        mask = square
    return np.asarray(mask.resize((shape[1], shape[0]), Image.NEAREST))


def mask_path(data_dir: str | Path | None, image_id: str) -> Path | None:
    """Path of the data set's own disc mask for ``image_id`` (full Kaggle copy only), else None."""
    if data_dir is None:
        return None
    stem = Path(image_id).stem
    for ext in (".png", ".jpg", ".bmp", ".tif"):
        p = Path(data_dir) / MASK_FOLDER / f"{stem}{ext}"
        if p.is_file():
            return p
    return None


def locate_disc(rgb: np.ndarray, data_dir: str | Path | None = None,
                image_id: str | None = None) -> DiscLocation:
    """Disc location in native pixels of ``rgb`` (H, W, 3) uint8; the data set's mask if any."""
    return locate_discs([rgb], data_dir, [image_id] if image_id else None)[0]


def locate_discs(images: list[np.ndarray] | np.ndarray, data_dir: str | Path | None = None,
                 image_ids: list[str] | None = None) -> list[DiscLocation]:
    """Disc locations for several images of any sizes (detector vectorised over the batch)."""
    out: list[DiscLocation | None] = [None] * len(images)
    todo = []
    for i, img in enumerate(images):
        p = mask_path(data_dir, image_ids[i]) if image_ids is not None else None
        if p is not None:
            out[i] = location_from_mask(read_mask(p, img.shape[:2]))
        else:
            todo.append(i)
    if todo:
        small = np.stack([to_work_size(images[i]) for i in todo])
        found = locate_discs_small(small)
        for i, (x, y, r, c) in zip(todo, found, strict=True):
            sy = images[i].shape[0] / WORK_SIZE
            sx = images[i].shape[1] / WORK_SIZE
            out[i] = DiscLocation(float(x * sx), float(y * sy), float(r * (sx + sy) / 2), float(c))
    return out  # type: ignore[return-value]


def crop_disc(rgb: np.ndarray, loc: DiscLocation, crop_size: int = 160, out_size: int = 96,
              reference_width: int = 512) -> np.ndarray:
    """Square crop centred on the disc, returned as (3, out_size, out_size) uint8.

    ``crop_size`` is in pixels of a ``reference_width``-wide image (the 512x512 square set), so
    images of other sizes get a crop covering the same field of view. Outside the image is black.
    """
    h, w = rgb.shape[:2]
    side = crop_size * min(h, w) / reference_width
    half = side / 2
    box = (loc.x - half, loc.y - half, loc.x + half, loc.y + half)
    img = Image.fromarray(rgb).transform((out_size, out_size), Image.EXTENT, box, Image.BILINEAR)
    return np.ascontiguousarray(np.asarray(img).transpose(2, 0, 1))


def load_disc_crops(data_dir: str | Path, image_ids: list[str], crop_size: int = 160,
                    out_size: int = 96) -> tuple[np.ndarray, pd.DataFrame]:
    """Disc crops (N, 3, out, out) uint8 and a table of locations, cached like decoded images."""
    return load_disc_crop_sets(data_dir, image_ids, [(crop_size, out_size)])[0]


def load_disc_crop_sets(data_dir: str | Path, image_ids: list[str],
                        sizes: list[tuple[int, int]]) -> list[tuple[np.ndarray, pd.DataFrame]]:
    """load_disc_crops for several (crop_size, out_size) pairs in one pass over the images.

    On G1020 disc detection costs ~6 s, decoding ~3 s and cropping almost nothing, so every
    size not yet cached is cut from the same decoded images, and the detected discs are cached
    on their own for sizes asked for later. Images are read and detected in chunks of 64, so
    memory stays bounded.
    """
    image_ids, asked = list(image_ids), sizes
    sizes = list(dict.fromkeys(asked))  # each size cut once, however often it is asked for
    paths = [image_path(data_dir, i) for i in image_ids]
    caches = [cache_file(f"disc_crops_{crop}_{out}", paths, crop, out, DETECTOR)
              for crop, out in sizes]
    found = [read_cache(cache, image_ids) for cache in caches]
    missing = [k for k, cached in enumerate(found) if cached is None]
    if missing:
        _cut_missing(data_dir, image_ids, paths, sizes, missing, caches, found)
    by_size = {size: (cached["crops"], _cached_locations(image_ids, cached))
               for size, cached in zip(sizes, found, strict=True)}
    return [by_size[size] for size in asked]


def _cut_missing(data_dir: str | Path, image_ids: list[str], paths: list[Path],
                 sizes: list[tuple[int, int]], missing: list[int], caches: list[Path],
                 found: list[dict | None]) -> None:
    """Cut and cache the sizes not cached yet (found[k] filled in), detecting the discs only
    when their locations are not cached either."""
    located_cache = cache_file("disc_locations", paths, DETECTOR)
    known = read_cache(located_cache, image_ids)
    known_locs = None if known is None else [
        DiscLocation(*row) for row in
        _cached_locations(image_ids, known).drop(columns="imageID").itertuples(index=False)]
    crops = {k: np.empty((len(image_ids), 3, sizes[k][1], sizes[k][1]), np.uint8) for k in missing}
    locs: list[DiscLocation] = []
    chunk = 64
    for start in range(0, len(image_ids), chunk):
        ids = image_ids[start:start + chunk]
        images = [read_image(p) for p in paths[start:start + chunk]]
        located = (locate_discs(images, data_dir, ids) if known_locs is None
                   else known_locs[start:start + chunk])
        for j, (img, loc) in enumerate(zip(images, located, strict=True)):
            for k in missing:
                crops[k][start + j] = crop_disc(img, loc, *sizes[k])
        locs.extend(located)
    table = locations_frame(image_ids, locs)
    columns = {"source": table["source"].to_numpy().astype(str),
               **{k: table[k].to_numpy() for k in ("x", "y", "radius", "confidence")}}
    if known_locs is None:
        write_cache(located_cache, image_ids, **columns)
    for k in missing:
        found[k] = {"crops": crops[k], **columns}
        write_cache(caches[k], image_ids, **found[k])


def _cached_locations(image_ids: list[str], cached: dict[str, np.ndarray]) -> pd.DataFrame:
    table = pd.DataFrame({k: cached[k] for k in ("x", "y", "radius", "confidence", "source")})
    table.insert(0, "imageID", image_ids)
    return table


def locations_frame(image_ids: list[str], locs: list[DiscLocation]) -> pd.DataFrame:
    """Table imageID, x, y, radius, confidence, source."""
    return pd.DataFrame({
        "imageID": list(image_ids),
        "x": [loc.x for loc in locs], "y": [loc.y for loc in locs],
        "radius": [loc.radius for loc in locs], "confidence": [loc.confidence for loc in locs],
        "source": [loc.source for loc in locs],
    })
