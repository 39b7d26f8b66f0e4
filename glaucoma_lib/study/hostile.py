"""The worst inputs of each kind that predict and training meet, built small and fast, so their
peak memory is measured on every build (glaucoma_lib.study.memory) rather than quoted.

Each builder writes one file and returns its path: the largest image decoded at full size, an
image whose header declares too many pixels or too long a side, a model file declaring far more
work per image than allowed, and a checkpoint whose members unpack to 1.5 GB of zeros.
"""

from __future__ import annotations

import math
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from glaucoma_lib.data.images import MAX_FULL_DECODE_PIXELS
from glaucoma_lib.models.kinds import WEIGHTS_PATH
from glaucoma_lib.nn.network import META_KEY
from glaucoma_lib.nn.weight_files import json_entry, read_json_entry, read_npz, save_npz


def largest_png(path: Path) -> Path:
    """A square RGBA PNG of exactly MAX_FULL_DECODE_PIXELS (4000x4000): the largest non-JPEG
    image predict decodes at full size. An orange disc on black compresses to ~0.3 MB in 0.3 s;
    what it costs to decode does not depend on the content."""
    side = math.isqrt(MAX_FULL_DECODE_PIXELS)
    image = Image.new("RGBA", (side, side), (0, 0, 0, 255))
    ImageDraw.Draw(image).ellipse((side // 40, side // 40, side - side // 40, side - side // 40),
                                  fill=(200, 85, 30, 255))
    image.save(path, compress_level=1)
    return path


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A valid 1x1 PNG whose header declares width x height: refused before any decoding."""
    Image.new("RGB", (1, 1)).save(path, format="PNG")
    raw = bytearray(path.read_bytes())
    ihdr = struct.pack(">II", width, height) + bytes(raw[24:29])  # IHDR: size, then depth...
    raw[16:29] = ihdr
    raw[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path.write_bytes(bytes(raw))
    return path


def long_jpeg(path: Path, width: int, height: int) -> Path:
    """A real width x height JPEG (20000x1: 60 kB), refused from its header for its aspect."""
    Image.new("RGB", (width, height), (200, 85, 30)).save(path, format="JPEG")
    return path


def heavy_texture_model(path: Path, kernels: int = 10000, input_size: int = 256) -> Path:
    """The committed texture model with its header declaring ``kernels`` texture kernels at
    ``input_size`` px: refused from the header before any kernel is allocated."""
    arrays = read_npz(WEIGHTS_PATH)
    header = read_json_entry(WEIGHTS_PATH, META_KEY)
    header["config"].update(texture_kernels=kernels, input_size=input_size)
    arrays[META_KEY] = json_entry(header)
    return save_npz(path, arrays)


def checkpoint_bomb(path: Path, names: list[str], member_bytes: int = 250 * 10**6) -> Path:
    """A checkpoint whose members (one per name, float32 zeros) each unpack to member_bytes;
    deflated, six of 250 MB make a 6.5 MB file, written in ~1.3 s without holding a member."""
    header = {"descr": "<f4", "fortran_order": False, "shape": (member_bytes // 4,)}
    chunk = bytes(4 * 2**20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name in names:
            with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array_header_1_0(fh, header)
                for start in range(0, member_bytes, len(chunk)):
                    fh.write(chunk[:member_bytes - start])
    return path
