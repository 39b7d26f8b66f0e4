"""Command line: ``python -m glaucoma_lib predict IMAGE_OR_FOLDER... [--weights PATH] [--csv OUT]``.

Prints one line per image (probability, label at the model's threshold, disc position);
unreadable files are reported on stderr and skipped; the exit code is 1 if any image failed.
"""

from __future__ import annotations

import argparse
import sys

from glaucoma_lib.disc_model import WEIGHTS_PATH, load_model
from glaucoma_lib.predict import CsvWriter, output_clash, predict_stream

LABEL_NAMES = {0: "healthy", 1: "glaucoma"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m glaucoma_lib",
                                     description="Glaucoma screening on fundus photographs.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("predict", help="glaucoma probability for images or folders")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER")
    p.add_argument("--weights", default=None, help=f"model .npz (default {WEIGHTS_PATH.name})")
    p.add_argument("--csv", default=None, metavar="OUT", help="also write results to this CSV")
    p.add_argument("--batch-size", type=int, default=32)
    return parser


def run_predict(args: argparse.Namespace) -> int:
    clash = output_clash(args.csv, args.inputs) if args.csv else None
    if clash:
        print(f"error: {clash}", file=sys.stderr)
        return 3
    try:
        model = load_model(args.weights)
    except (OSError, ValueError) as error:
        print(f"error: cannot load the model: {error}", file=sys.stderr)
        return 2
    writer = CsvWriter(args.csv) if args.csv else None
    n_ok = n_failed = 0
    try:
        for p in predict_stream(args.inputs, model, args.batch_size):
            if not p.ok:
                n_failed += 1
                print(f"skipped: {p.error}", file=sys.stderr)
                continue
            n_ok += 1
            print(f"{p.path}\tp={p.probability:.3f}\t{LABEL_NAMES[p.label]}"
                  f"\tdisc=({p.disc_x:.0f}, {p.disc_y:.0f})", flush=True)
            if writer:
                writer.write(p)
    except BaseException:
        if writer:
            writer.abort()
        raise
    if writer:
        writer.commit()
    print(f"{n_ok} image(s) scored, {n_failed} failed (threshold {model.threshold:.3f})",
          file=sys.stderr)
    return 1 if n_failed or not n_ok else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_predict(args)
