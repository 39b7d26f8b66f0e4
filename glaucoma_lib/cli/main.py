"""Command line: ``python -m glaucoma_lib predict IMAGE_OR_FOLDER... [--weights PATH] [--csv OUT]``.

Prints one tab-separated line per scored image as it is scored (probability, label at the
model's threshold, disc position); images without a verdict are reported on stderr. Every problem
is one line on stderr and its own exit code (EXIT_CODES); the CSV is written whole or not at all.
"""

from __future__ import annotations

import argparse
import os
import sys

from glaucoma_lib.cli import signals
from glaucoma_lib.cli.predict import (
    IMAGE_SUFFIXES,
    CsvWriter,
    Prediction,
    output_problem,
    predict_stream,
)
from glaucoma_lib.models.kinds import WEIGHTS_PATH, load_model
from glaucoma_lib.nn.weight_files import WeightsError

LABEL_NAMES = {0: "healthy", 1: "glaucoma"}
EXIT_IMAGES_FAILED = 1
EXIT_MODEL = 2
EXIT_OUTPUT = 3
EXIT_NO_IMAGES = 4
EXIT_STREAM = 5
EXIT_USAGE = 64  # sysexits.h EX_USAGE; argparse's own 2 would read as "unusable weight file"
EXIT_INTERRUPTED = 130  # 128 + SIGINT; SIGHUP gives 129, SIGTERM 143
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that went away
EXIT_CODES = {
    0: "every image scored",
    EXIT_IMAGES_FAILED: "some images got no verdict (see stderr and the CSV's status)",
    EXIT_MODEL: "the weight file cannot be used",
    EXIT_OUTPUT: "the CSV cannot be written there (or would overwrite an input, the weights, "
                 "a link or a device)",
    EXIT_NO_IMAGES: "no image files among the inputs",
    EXIT_STREAM: "stdout or stderr could not be written (e.g. a full device); the CSV was "
                 "still written",
    EXIT_USAGE: "wrong command-line arguments",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C; 129 SIGHUP, 143 SIGTERM); no CSV written",
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


class _Stream:
    """Lines to stdout or stderr; a reader that goes away (``| head``) or a full device
    silences the stream, no more (``failed`` remembers which)."""

    def __init__(self, stream):
        self.stream = stream
        self.failed: OSError | None = None

    def line(self, text: str) -> None:
        if self.failed:
            return
        try:
            print(text, file=self.stream, flush=True)
        except OSError as error:
            self.failed = error
            devnull = os.open(os.devnull, os.O_WRONLY)  # so the exit-time flush cannot fail
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)


def _fail(err: _Stream, message: str, code: int) -> int:
    err.line(f"error: {printable(message)}")
    return code


def _result_line(p: Prediction) -> str:
    return (f"{printable(p.path)}\tp={p.probability:.3f}\t{LABEL_NAMES[p.label]}"
            f"\tdisc=({p.disc_x:.0f}, {p.disc_y:.0f})")


def _score(args: argparse.Namespace, model, writer: CsvWriter | None, out: _Stream,
           err: _Stream) -> tuple[int, int]:
    n_ok = n_failed = 0
    for p in predict_stream(args.inputs, model, args.batch_size):
        if writer:
            writer.write(p)
        if not p.ok:
            n_failed += 1
            err.line(f"skipped: {printable(p.path)}: {printable(p.status)}")
            continue
        n_ok += 1
        out.line(_result_line(p))
        if out.failed and writer is None:
            break
    return n_ok, n_failed


def run_predict(args: argparse.Namespace, out: _Stream, err: _Stream) -> int:
    weights = args.weights if args.weights is not None else WEIGHTS_PATH
    problem = output_problem(args.csv, args.inputs, weights) if args.csv is not None else None
    if problem:
        return _fail(err, f"cannot write the CSV: {problem}", EXIT_OUTPUT)
    try:
        model = load_model(weights)
    except (OSError, WeightsError) as error:
        return _fail(err, f"cannot load the model: {error}", EXIT_MODEL)
    try:
        writer = CsvWriter(args.csv) if args.csv is not None else None
    except OSError as error:
        return _fail(err, f"cannot write the CSV {args.csv}: {error.strerror or error}",
                     EXIT_OUTPUT)
    try:
        n_ok, n_failed = _score(args, model, writer, out, err)
    except BaseException:
        if writer:
            writer.abort()
        raise
    if n_ok + n_failed == 0:
        if writer:
            writer.abort()
        return _fail(err, f"no image files found in {' '.join(args.inputs)} (looked for "
                          f"{', '.join(sorted(IMAGE_SUFFIXES))}); no CSV written",
                     EXIT_NO_IMAGES)
    if writer:
        try:
            writer.commit()
        except OSError as error:
            writer.abort()
            return _fail(err, f"cannot write the CSV {args.csv}: {error.strerror or error}",
                         EXIT_OUTPUT)
    err.line(f"{n_ok} image(s) scored, {n_failed} without a verdict "
             f"(threshold {model.threshold:.3f})")
    if isinstance(out.failed, BrokenPipeError):
        return EXIT_BROKEN_PIPE
    if out.failed or err.failed:
        return EXIT_STREAM
    return EXIT_IMAGES_FAILED if n_failed else 0


def main(argv: list[str] | None = None) -> int:
    out, err = _Stream(sys.stdout), _Stream(sys.stderr)
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as done:  # --help (0) or a usage error (argparse's 2)
            return EXIT_USAGE if done.code else 0
        return run_predict(args, out, err)
    except KeyboardInterrupt as interrupt:  # at any point, also while the model loads
        return _fail(err, "interrupted; no CSV written", signals.exit_code(interrupt))
