"""Atomic file writes: a temp file in the target's folder, renamed into place only when complete,
so a crash, Ctrl-C or bad input midway never leaves a half-written file and never destroys the
previous version. The engine's weight files and checkpoints are written this way, and so is
everything else the package writes (glaucoma_lib.files builds on it)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", **open_kwargs) -> Iterator[IO]:
    """Open a temp file beside ``path``; on a clean exit it replaces ``path``, else it vanishes.

    Writers get a handle, not a name, so np.savez cannot append ".npz" to the temp name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
