"""Decoding fundus photographs safely: header checks before decoding, every mode to 8-bit RGB,
turned upright as a viewer shows it (EXIF orientation), black padding to a square, one resize
filter; every failure a DataError naming the file.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageOps

from glaucoma_lib.data.datasets import DataError

# One antialiasing filter for every resize: BOX is the exact area mean when shrinking 512 -> 64.
RESIZE_FILTER = Image.Resampling.BOX
# JPEGs are decoded with libjpeg's DCT scaling down to no less than this multiple of the target
# side (512 -> 256 for 64x64), then shrunk with RESIZE_FILTER: faster and lighter on memory.
DRAFT_FACTOR = 4
# Checked from the header before decoding; a 512x512 fundus photo is 0.26 megapixels.
MAX_PIXELS = 50_000_000
# Formats without a reduced decode (all but JPEG) are decoded at full size: above this many
# pixels (64 MB as RGBA; the conversions make it ~450 MB peak) they are refused where a
# working copy is asked for.
MAX_FULL_DECODE_PIXELS = 16_000_000
# Long side over short side, from the header: fundus photographs are below 2; a 49000x1 frame
# would need a 49000x49000 square.
MAX_ASPECT = 10
EXIF_ORIENTATION = 0x0112  # values 5..8 swap width and height on display
# Formats Pillow may try; nothing exotic (EPS would run Ghostscript).
IMAGE_FORMATS = ("JPEG", "PNG", "TIFF", "BMP")
# Bump when the decode pipeline changes, so old cache entries are not served.
PIPELINE = f"exif-draft{DRAFT_FACTOR}-pad-black-{RESIZE_FILTER.name}-pillow{PIL.__version__}"

# Pillow's decoders report hostile bytes with a variety of exception types.
DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    IndexError,
    TypeError,
    ZeroDivisionError,
    Image.DecompressionBombError,
)



def _to_rgb(image: Image.Image) -> Image.Image:
    """Every mode becomes 8-bit RGB on purpose: 16-bit keeps its top 8 bits, alpha becomes black."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I"):
        values = np.clip(np.asarray(image, dtype=np.int64), 0, 65535) >> 8
        return Image.fromarray(values.astype(np.uint8), mode="L").convert("RGB")
    if image.mode == "F":
        raise ValueError("floating-point images are not supported")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return image.convert("RGB")


def _displayed_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) as a viewer shows the full image, from the header alone."""
    width, height = image.size
    if image.getexif().get(EXIF_ORIENTATION) in (5, 6, 7, 8):
        return height, width
    return width, height


def _open_rgb(path: Path, draft_side: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """Open, check the header's pixel count, decode (a JPEG at no less than ``draft_side`` px),
    turn upright and convert to RGB. Returns the image and the full displayed (width, height);
    errors become DataError."""
    if path.exists() and not path.is_file():
        raise DataError(f"{path}: not a regular file (a folder, FIFO or device is never read)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=IMAGE_FORMATS) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise DataError(
                        f"{path}: {width}x{height} pixels exceeds the limit of {MAX_PIXELS:,} "
                        "(possible decompression bomb)"
                    )
                if max(width, height) > MAX_ASPECT * min(width, height):
                    raise DataError(f"{path}: {width}x{height} pixels, an aspect ratio above "
                                    f"{MAX_ASPECT}:1; not a fundus photograph")
                if draft_side is not None and image.format != "JPEG" and \
                        width * height > MAX_FULL_DECODE_PIXELS:
                    raise DataError(f"{path}: {width}x{height} {image.format} exceeds the limit "
                                    f"of {MAX_FULL_DECODE_PIXELS:,} pixels for formats decoded "
                                    "at full size (JPEG is decoded reduced)")
                displayed = _displayed_size(image)
                if draft_side is not None and image.format == "JPEG":
                    image.draft("RGB", (draft_side, draft_side))
                image.load()
                return _to_rgb(ImageOps.exif_transpose(image)), displayed
    except FileNotFoundError:
        raise DataError(f"{path}: image file is missing") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    except Image.UnidentifiedImageError:
        raise DataError(f"{path}: not a readable image (unknown or corrupt format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DataError(f"{path}: refused as a possible decompression bomb ({error})") from None
    except DECODE_ERRORS as error:
        raise DataError(f"{path}: truncated or corrupt image ({error})") from None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """One image as uint8 (H, W, 3) RGB at native resolution, as a viewer shows it."""
    return np.asarray(_open_rgb(Path(path))[0], dtype=np.uint8)


def read_working(path: str | os.PathLike, side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The image as a viewer shows it, a JPEG decoded at reduced size (no smaller than ``side``
    on its long edge) so a huge photograph never sits in memory at full size; plus its full
    displayed (width, height), to report positions in the photograph's own pixels."""
    image, displayed = _open_rgb(Path(path), draft_side=side)
    return np.asarray(image, dtype=np.uint8), displayed


def _pad_to_square(image: Image.Image) -> Image.Image:
    """Pad with black rather than crop or stretch: fundus photos already have black borders."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    square = Image.new("RGB", (side, side))
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return square


def read_resized(path: Path, image_size: int) -> np.ndarray:
    image = _pad_to_square(_open_rgb(path, draft_side=DRAFT_FACTOR * image_size)[0])
    return np.asarray(image.resize((image_size, image_size), RESIZE_FILTER), dtype=np.uint8)
