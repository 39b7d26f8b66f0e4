"""Stop signals as Ctrl-C, installed before anything heavy is imported.

SIGTERM and SIGHUP raise KeyboardInterrupt like SIGINT does, so one handler cleans up after any
of them (no CSV, no temp file) and the exit code is 128 + the signal's number, as a shell reports.
This module imports only the standard library: `python -m glaucoma_lib` installs it first thing.
"""

from __future__ import annotations

import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _raise(signum: int, frame) -> None:
    raise KeyboardInterrupt(signum)


def install() -> None:
    """Every stop signal raises KeyboardInterrupt(signal number)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise)


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """128 + the signal that stopped the run (SIGINT when Python raised it itself)."""
    signum = interrupt.args[0] if interrupt.args and isinstance(interrupt.args[0], int) \
        else signal.SIGINT
    return 128 + int(signum)
