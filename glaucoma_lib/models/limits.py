"""What a model read from a weight file may hold and what it may cost per image, checked before
any image is scored.

Values: every stored number within +-PARAM_BOUND (trained models stay below 100) and BatchNorm
variances positive, so a finite but absurd value (1e38) is refused by name instead of overflowing.
Work: per image at most MAX_MACS multiply-adds and MAX_IMAGE_BYTES for the largest step (its
input plus output), so a small file cannot declare gigabytes or minutes per photograph; `predict`
sizes its scoring chunks from the same estimate (SCORE_BYTES per chunk).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glaucoma_lib.nn.conv_ops import conv_output_size
from glaucoma_lib.nn.network import NetworkConfig

PARAM_BOUND = 1e4
MAX_MACS = 2_000_000_000  # the committed texture model needs 3 M, the original CNN 19 M
MAX_IMAGE_BYTES = 32 * 2**20  # largest step per image; the committed models need under 1 MB
SCORE_BYTES = 128 * 2**20  # images scored together: at most this much working memory


@dataclass(frozen=True)
class Work:
    """Cost of scoring one image: multiply-adds and the bytes of its largest step."""

    macs: int
    bytes: int

    def __add__(self, other: Work) -> Work:
        return Work(self.macs + other.macs, max(self.bytes, other.bytes))


def check_values(arrays: dict[str, np.ndarray]) -> None:
    """ValueError naming the first entry with a value beyond PARAM_BOUND or a variance <= 0."""
    for name, value in arrays.items():
        if value.size and np.abs(value).max() > PARAM_BOUND:
            raise ValueError(f"entry {name!r} holds values beyond +-{PARAM_BOUND:g} "
                             f"(largest {np.abs(value).max():.3g}); no trained model has them")
        if name.startswith("running_var") and value.size and value.min() <= 0:
            raise ValueError(f"entry {name!r} (a BatchNorm variance) must be positive, "
                             f"got {value.min():.3g}")


def check_work(work: Work) -> None:
    """ValueError if one image would cost more than the limits."""
    if work.macs > MAX_MACS or work.bytes > MAX_IMAGE_BYTES:
        raise ValueError(f"the model needs {work.macs:,} multiply-adds and {work.bytes:,} bytes "
                         f"per image, above the limits of {MAX_MACS:,} and {MAX_IMAGE_BYTES:,}")


def network_work(config: NetworkConfig) -> Work:
    """Per-image cost of a DeepConvNet forward pass, from its configuration alone."""
    item = np.dtype(config.dtype).itemsize
    c, h, w = config.input_dim
    k, macs, largest = config.kernel_size, 0, 0
    for i, (out_c, pad) in enumerate(zip(config.channels, config.pads, strict=True), start=1):
        oh, ow = conv_output_size(h, k, 1, pad), conv_output_size(w, k, 1, pad)
        macs += out_c * c * k * k * oh * ow
        largest = max(largest, (c * h * w + out_c * oh * ow) * item)
        c, h, w = out_c, oh, ow
        if i % 2 == 0:
            h, w = conv_output_size(h, 2, 2, 0), conv_output_size(w, 2, 2, 0)
    macs += c * h * w * config.hidden_size + config.hidden_size * config.output_size
    return Work(macs, largest)


def texture_work(n_kernels: int, size: int, side: int) -> Work:
    """Per-image cost of pooled random-kernel responses on ``side`` px crops: the responses
    (side^2 x kernels) and the unrolled windows (side^2 x 3 size^2), as float32."""
    macs = n_kernels * 3 * size * size * side * side
    return Work(macs, 4 * side * side * max(n_kernels, 3 * size * size))


def score_chunk(work: Work) -> int:
    """How many images to score together so that a chunk stays within SCORE_BYTES."""
    return max(1, SCORE_BYTES // max(1, work.bytes))
