"""JSON files written atomically (through the engine's atomic_write), for run records and the
report build. Weight files (.npz) are the engine's: glaucoma_lib.nn.weight_files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from glaucoma_lib.nn.atomic import atomic_write


def write_json(path: str | os.PathLike, data: Any, default=None) -> Path:
    """Indented JSON, atomically; ``default`` converts what json cannot (as in json.dump)."""
    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, default=default, allow_nan=True)
        fh.write("\n")
    return path
