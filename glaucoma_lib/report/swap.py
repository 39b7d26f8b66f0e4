"""Putting a finished report build in place (report, figures and the committed models together),
under a lock so two builds finishing at once never interleave their files, and so that a swap a
crash cut short is finished by the next build.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from glaucoma_lib.files import atomic_write


class ReportError(RuntimeError):
    """The report could not be built; the message names the notebook and cell at fault."""


SWAP_LOCK = ".swap.lock"
STAGED_PREFIX = ".swap-"  # a finished build being put in place
OLD_PREFIX = ".old-"  # the outputs it replaces, deleted once it is in place
REPORT_OUTPUTS = ("paper.html", "paper.pdf", "supplement.html", "supplement.pdf",
                  "supplement.ipynb", "build_info.json", "notebooks", "tables")
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


def swap_in(build: Path, report_dir: Path, figures_dir: Path, weights_dir: Path) -> None:
    """Replace the old report, figures and committed models by the build's, under the swap lock.

    Renaming report/.build-X to report/.swap-X is the commit point: from then on the swap is
    finished, if a crash interrupts it, by the next build (finish_swaps), never rolled back.
    """
    with swap_lock(report_dir):
        _finish(report_dir, figures_dir, weights_dir)
        staged = report_dir / f"{STAGED_PREFIX}{build.name.removeprefix('.build-')}"
        os.replace(build, staged)
        _move_in(staged, report_dir, figures_dir, weights_dir)


def finish_swaps(report_dir: Path, figures_dir: Path, weights_dir: Path) -> None:
    """Complete what a crashed swap left (report/.swap-*, report/.old-*), under the swap lock."""
    if report_dir.is_dir():
        with swap_lock(report_dir):
            _finish(report_dir, figures_dir, weights_dir)


def _finish(report_dir: Path, figures_dir: Path, weights_dir: Path) -> None:
    """Each interrupted swap is carried through, oldest first; then any output still missing is
    put back from the old outputs set aside (an interrupted swap of earlier code), which go."""
    for staged in sorted(report_dir.glob(f"{STAGED_PREFIX}*")):
        _move_in(staged, report_dir, figures_dir, weights_dir)
    for old in sorted(report_dir.glob(f"{OLD_PREFIX}*")):
        for target in _targets(report_dir, figures_dir):
            aside = old / _aside_name(target)
            if aside.exists() and not target.exists():
                os.replace(aside, target)
        shutil.rmtree(old, ignore_errors=True)


def _targets(report_dir: Path, figures_dir: Path) -> list[Path]:
    return [*(report_dir / name for name in REPORT_OUTPUTS), figures_dir]


def _aside_name(target: Path) -> str:
    return f"{target.parent.name}-{target.name}"


def _move_in(staged: Path, report_dir: Path, figures_dir: Path, weights_dir: Path) -> None:
    """Each output of the staged build replaces its target (the old one set aside in
    report/.old-*, since a folder cannot be replaced in one rename); every step can be repeated,
    so a swap cut short anywhere is finished by running this again. The models are copied
    (glaucoma_lib/weights/ may be on another file system), each replaced atomically, then
    deleted from the staged build."""
    old = report_dir / f"{OLD_PREFIX}{staged.name.removeprefix(STAGED_PREFIX)}"
    old.mkdir(exist_ok=True)
    sources = [staged / name for name in (*REPORT_OUTPUTS, "figures")]
    for source, target in zip(sources, _targets(report_dir, figures_dir), strict=True):
        if source.exists():
            if target.exists():
                os.replace(target, old / _aside_name(target))
            os.replace(source, target)
    for model in sorted((staged / "weights").glob("*.npz")):
        with atomic_write(weights_dir / model.name) as handle, open(model, "rb") as source:
            shutil.copyfileobj(source, handle)
        model.unlink()
    shutil.rmtree(staged, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
