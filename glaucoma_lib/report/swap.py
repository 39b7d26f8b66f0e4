"""Putting a finished report build in place: old outputs aside, new ones in, under a lock so two
builds finishing at once never interleave their files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path


class ReportError(RuntimeError):
    """The report could not be built; the message names the notebook and cell at fault."""


SWAP_LOCK = ".swap.lock"
SWAP_LOCK_TIMEOUT = 600.0  # seconds a build waits for another build's swap to finish


@contextlib.contextmanager
def swap_lock(report_dir: Path, timeout: float | None = None) -> Iterator[None]:
    """Exclusive flock on report/.swap.lock, so two builds never interleave their outputs: the
    second waits for the first (up to ``timeout``), then fails with a ReportError."""
    timeout = SWAP_LOCK_TIMEOUT if timeout is None else timeout
    lock = report_dir / SWAP_LOCK
    deadline = time.monotonic() + timeout
    with open(lock, "a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ReportError(
                        f"another build is swapping its report into {report_dir} (lock {lock} "
                        f"still held after {timeout:.0f} s); run again when it has finished"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def swap_in(build: Path, report_dir: Path, figures_dir: Path) -> None:
    """Replace the old report and figures by the new build, under the swap lock."""
    with swap_lock(report_dir):
        _replace_outputs(build, report_dir, figures_dir)


def _replace_outputs(build: Path, report_dir: Path, figures_dir: Path) -> None:
    """Old outputs go to report/.old-* first, then the build's move into place."""
    old = report_dir / f".old-{build.name.removeprefix('.build-')}"
    old.mkdir()
    moves = [
        (build / "report.html", report_dir / "report.html"),
        (build / "report.pdf", report_dir / "report.pdf"),
        (build / "report.ipynb", report_dir / "report.ipynb"),
        (build / "build_info.json", report_dir / "build_info.json"),
        (build / "notebooks", report_dir / "notebooks"),
        (build / "tables", report_dir / "tables"),
        (build / "figures", figures_dir),
    ]
    for _, target in moves:
        if target.exists():
            os.replace(target, old / f"{target.parent.name}-{target.name}")
    for source, target in moves:
        if source.exists():
            os.replace(source, target)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(build, ignore_errors=True)
