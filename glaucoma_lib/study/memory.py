"""Peak memory of training and prediction.

`python -m glaucoma_lib.study.memory [--quick]` prints JSON.

Each case runs in a fresh Python process, which reports its own peak resident set size, so one
case's leftovers never inflate another's. Prediction is measured on two folder sizes: if it
streams as it should, the peak does not grow with the number of images. The worst hostile inputs
(glaucoma_lib.study.hostile) are measured too, each child asserting the outcome its row names,
so a refusal that stops happening fails the build instead of showing a stale number.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from glaucoma_lib.data.loading import find_data_dir, image_path, read_labels
from glaucoma_lib.study import hostile
from glaucoma_lib.tasks import ONE_BLAS_THREAD, default_jobs, task_pool

# VmHWM is the peak of this process's own address space; getrusage's ru_maxrss is not, because
# Linux carries the parent's peak over a fork + exec.
_REPORT_PEAK = """
import re
print(re.search(r"VmHWM:\\s*(\\d+) kB", open("/proc/self/status").read()).group(1))
"""

_TRAIN_ORIGINAL = """
from glaucoma_lib.data.loading import load_glaucoma
from glaucoma_lib.metrics import roc_auc
from glaucoma_lib.nn.network import DeepConvNet
from glaucoma_lib.nn.train import Trainer
(x, t), _ = load_glaucoma({data_dir!r}, image_size=64)
Trainer(DeepConvNet(), x, t, epochs=1, mini_batch_size=50, optimizer="Adam",
        optimizer_param={{"lr": 0.001}}, verbose=False, scorer=roc_auc).train()
"""

_TRAIN_IMPROVED = """
from glaucoma_lib.models.disc_fit import train_cnn
from glaucoma_lib.models.disc_model import DiscModelConfig, load_disc_data
config = DiscModelConfig(epochs=1)
train, _ = load_disc_data({data_dir!r}, config)
train_cnn(train, None, config)
"""

_PREDICT = """
from glaucoma_lib.cli.predict import predict
predict([{folder!r}])
"""


_PREDICT_ONE = """
from glaucoma_lib.cli.predict import predict
status = predict([{path!r}]).loc[0, "status"]
assert {check}, status
"""

_LOAD_MODEL = """
from glaucoma_lib.models.kinds import load_model
from glaucoma_lib.nn.weight_files import WeightsError
try:
    load_model({path!r})
except WeightsError as error:
    assert "per image, above the limits" in str(error), error
else:
    raise AssertionError("the model file was loaded")
"""

_RESUME = """
import numpy as np
from glaucoma_lib.metrics import roc_auc
from glaucoma_lib.nn.checkpoint import load_checkpoint
from glaucoma_lib.nn.network import DeepConvNet
from glaucoma_lib.nn.train import Trainer
from glaucoma_lib.nn.weight_files import WeightsError
x, t = np.zeros((50, 3, 64, 64), np.float32), np.arange(50) % 2
trainer = Trainer(DeepConvNet(), x, t, epochs=1, mini_batch_size=50, optimizer="Adam",
                  optimizer_param={{"lr": 0.001}}, verbose=False, scorer=roc_auc)
try:
    load_checkpoint(trainer, {path!r})
except WeightsError as error:
    assert "unpacks to" in str(error), error
else:
    raise AssertionError("the checkpoint was loaded")
"""


def hostile_cases(folder: Path) -> list[tuple[str, str, str]]:
    """(case, kind, code) for the worst hostile inputs, their files built in ``folder``
    (~1.6 s, most of it deflating the checkpoint's 1.5 GB of zeros)."""
    png = hostile.largest_png(folder / "largest.png")
    claimed = hostile.png_claiming(folder / "claims_7000.png", 7000, 7000)
    long = hostile.long_jpeg(folder / "long.jpg", 20000, 1)
    model = hostile.heavy_texture_model(folder / "heavy_model.npz")
    bomb = hostile.checkpoint_bomb(folder / "bomb.npz", [f"net/W{k}" for k in range(1, 7)])
    unread = 'not status.startswith("unreadable")'
    return [
        ("predict a 4000x4000 RGBA PNG: the largest image decoded at full size, accepted",
         "hostile input", _PREDICT_ONE.format(path=str(png), check=unread)),
        ("predict a PNG declaring 7000x7000 pixels: refused from its header",
         "hostile input", _PREDICT_ONE.format(path=str(claimed),
                                              check='"decoded at full size" in status')),
        ("predict a 20000x1 JPEG: refused from its header (aspect ratio)",
         "hostile input", _PREDICT_ONE.format(path=str(long), check='"aspect ratio" in status')),
        ("load a model declaring 10000 texture kernels at 256 px: refused before allocating",
         "hostile input", _LOAD_MODEL.format(path=str(model))),
        ("resume from a checkpoint of six 250 MB zero members: refused from the zip directory",
         "hostile input", _RESUME.format(path=str(bomb))),
    ]


def peak_rss_mb(code: str) -> float:
    """Run code in a fresh interpreter with one BLAS thread and return its peak resident
    memory in MiB (Linux). One thread: with two each, four cases side by side on two cores took
    34 CPU-seconds instead of 20, and the disc CNN's peak varied more (119-195 MiB, 105-113)."""
    done = subprocess.run([sys.executable, "-c", code + _REPORT_PEAK], capture_output=True,
                          text=True, check=False, env={**os.environ, **ONE_BLAS_THREAD})
    if done.returncode != 0:
        raise RuntimeError(f"memory measurement failed:\n{done.stderr[-2000:]}")
    return int(done.stdout.split()[-1]) / 1024


def _image_folder(data_dir: Path, n_images: int, out: Path) -> Path:
    """n_images JPEGs (the data set's own, reused in turn) in a folder of their own."""
    names = list(read_labels(data_dir)["imageID"])
    out.mkdir()
    for k in range(n_images):
        source = image_path(data_dir, names[k % len(names)])
        target = out / f"copy_{k}.jpg"
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
    return out


def measure(data_dir: str | None = None, quick: bool = False,
            jobs: int | None = None) -> pd.DataFrame:
    """Peak memory (MiB) of each case, one row each: training, prediction, hostile inputs.
    The cases run ``jobs`` at a time (default: every core), each in its own process with one
    BLAS thread: a process's peak is its own, whatever runs beside it."""
    folder, _ = find_data_dir(data_dir)
    folder = str(folder)
    sizes = (20, 100) if quick else (50, 250)  # five times the images: the same peak if streamed
    cases = [
        ("train the original network one epoch, 64x64 input", "training",
         _TRAIN_ORIGINAL.format(data_dir=folder)),
        ("train the improved disc CNN one epoch, its own input size", "training",
         _TRAIN_IMPROVED.format(data_dir=folder)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            images = _image_folder(Path(folder), n, Path(tmp) / f"n{n}")
            cases.append((f"predict a folder of {n} images", "prediction",
                          _PREDICT.format(folder=str(images))))
        cases += hostile_cases(Path(tmp))
        peaks = list(task_pool(default_jobs(jobs)).map(peak_rss_mb,
                                                       [code for _, _, code in cases]))
    rows = [(case, kind, peak) for (case, kind, _), peak in zip(cases, peaks, strict=True)]
    return pd.DataFrame(rows, columns=["case", "kind", "peak_MiB"]).round(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller folders for prediction")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.data_dir, args.quick).to_dict("records"), indent=2))


if __name__ == "__main__":
    main()
