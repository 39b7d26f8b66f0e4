"""Command line: ``python -m glaucoma_lib predict IMAGE_OR_FOLDER... [--weights PATH] [--csv OUT]``.

Prints one tab-separated line per scored image (probability, label at the model's threshold,
disc position); images without a verdict are reported on stderr. Every problem is one line on
stderr and its own exit code (EXIT_CODES); the CSV is written whole or not at all.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from glaucoma_lib.cli.predict import (
    IMAGE_SUFFIXES,
    CsvWriter,
    Prediction,
    output_clash,
    predict_stream,
)
from glaucoma_lib.models.kinds import WEIGHTS_PATH, load_model
from glaucoma_lib.nn.weight_files import WeightsError

LABEL_NAMES = {0: "healthy", 1: "glaucoma"}
EXIT_IMAGES_FAILED = 1
EXIT_MODEL = 2
EXIT_OUTPUT = 3
EXIT_NO_IMAGES = 4
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that went away
EXIT_CODES = {
    0: "every image scored",
    EXIT_IMAGES_FAILED: "some images got no verdict (see stderr and the CSV's status)",
    EXIT_MODEL: "the weight file cannot be used",
    EXIT_OUTPUT: "the CSV cannot be written there (or would overwrite an input)",
    EXIT_NO_IMAGES: "no image files among the inputs",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); no CSV written",
    EXIT_BROKEN_PIPE: "stdout was closed early; the CSV was still written",
}


def build_parser() -> argparse.ArgumentParser:
    codes = "; ".join(f"{code}: {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(prog="python -m glaucoma_lib",
                                     description="Glaucoma screening on fundus photographs.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("predict", help="glaucoma probability for images or folders",
                            epilog=f"exit codes: {codes}")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER")
    p.add_argument("--weights", default=None, help=f"model .npz (default {WEIGHTS_PATH.name})")
    p.add_argument("--csv", default=None, metavar="OUT", help="also write results to this CSV")
    p.add_argument("--batch-size", type=int, default=32)
    return parser


def printable(text: str) -> str:
    """Tabs, newlines and undecodable bytes in a file name as Python escapes, so every result
    stays one tab-separated line and printing never fails on a name that is not UTF-8."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _fail(message: str, code: int) -> int:
    print(f"error: {printable(message)}", file=sys.stderr)
    return code


def _open_csv(path: str) -> CsvWriter:
    """The CSV's temp file is created before any scoring, so an unwritable target fails fast."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(21, "it is a folder, not a file name", path)
    parent = next(p for p in target.parents if p.exists() or p == p.parent)
    if parent.exists() and not parent.is_dir():
        raise NotADirectoryError(20, f"{parent} is a file, not a folder", path)
    return CsvWriter(path)


class _Stdout:
    """Result lines on stdout; a reader that goes away (``| head``) silences them, no more."""

    def __init__(self):
        self.closed = False

    def line(self, text: str) -> None:
        if self.closed:
            return
        try:
            print(text, flush=True)
        except BrokenPipeError:
            self.closed = True
            devnull = os.open(os.devnull, os.O_WRONLY)  # so the exit-time flush cannot fail
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


def _result_line(p: Prediction) -> str:
    return (f"{printable(p.path)}\tp={p.probability:.3f}\t{LABEL_NAMES[p.label]}"
            f"\tdisc=({p.disc_x:.0f}, {p.disc_y:.0f})")


def _score(args: argparse.Namespace, model, writer: CsvWriter | None,
           out: _Stdout) -> tuple[int, int]:
    n_ok = n_failed = 0
    for p in predict_stream(args.inputs, model, args.batch_size):
        if writer:
            writer.write(p)
        if not p.ok:
            n_failed += 1
            print(f"skipped: {printable(p.path)}: {printable(p.status)}", file=sys.stderr)
            continue
        n_ok += 1
        out.line(_result_line(p))
        if out.closed and writer is None:
            break
    return n_ok, n_failed


def run_predict(args: argparse.Namespace) -> int:
    clash = output_clash(args.csv, args.inputs) if args.csv else None
    if clash:
        return _fail(clash, EXIT_OUTPUT)
    try:
        model = load_model(args.weights)
    except (OSError, WeightsError) as error:
        return _fail(f"cannot load the model: {error}", EXIT_MODEL)
    try:
        writer = _open_csv(args.csv) if args.csv else None
    except OSError as error:
        return _fail(f"cannot write the CSV {args.csv}: {error.strerror or error}", EXIT_OUTPUT)
    out = _Stdout()
    try:
        n_ok, n_failed = _score(args, model, writer, out)
    except BaseException:
        if writer:
            writer.abort()
        raise
    if n_ok + n_failed == 0:
        if writer:
            writer.abort()
        return _fail(f"no image files found in {' '.join(args.inputs)} (looked for "
                     f"{', '.join(sorted(IMAGE_SUFFIXES))}); no CSV written", EXIT_NO_IMAGES)
    if writer:
        try:
            writer.commit()
        except OSError as error:
            writer.abort()
            return _fail(f"cannot write the CSV {args.csv}: {error.strerror or error}",
                         EXIT_OUTPUT)
    print(f"{n_ok} image(s) scored, {n_failed} without a verdict "
          f"(threshold {model.threshold:.3f})", file=sys.stderr)
    if out.closed:
        return EXIT_BROKEN_PIPE
    return EXIT_IMAGES_FAILED if n_failed else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_predict(args)
    except KeyboardInterrupt:  # at any point, also while the model loads
        return _fail("interrupted; no CSV written", EXIT_INTERRUPTED)
