"""Features of disc crops for linear scorers: random-kernel texture (a fixed, untrained
convolution layer) and hand-made colour and texture statistics of the disc.

On G1020 every CNN trained from scratch and every hand-made disc statistic scored chance in
blocked cross-validation on the 800 training images; a wide bank of random convolution kernels
(as in ROCKET / random-feature models) with a strongly regularised logistic regression on top
was the first thing that did better (blocked 5-fold CV AUC ~0.58 on tight 96 px disc crops).
With so few images, not learning the filters at all overfits less than learning them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from glaucoma_lib.models.disc import smooth


@dataclass(frozen=True)
class RandomKernelFeatures:
    """``n_kernels`` random zero-mean 3-channel kernels, each with a random dilation.

    Per kernel three pooled numbers: the fraction of positive responses, the maximum and the
    mean. Crops are standardised per image and channel first, so exposure differences between
    photographs do not dominate. Kernels come from ``seed`` alone (nothing is fitted).
    """

    n_kernels: int = 150
    size: int = 5
    dilations: tuple[int, ...] = (1, 2, 3)
    seed: int = 0

    def kernels(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_kernels, size, size, 3) float32 weights and each kernel's dilation."""
        rng = np.random.default_rng(self.seed)
        w = rng.normal(size=(self.n_kernels, self.size, self.size, 3)).astype(np.float32)
        w -= w.mean(axis=(1, 2, 3), keepdims=True)
        return w, rng.choice(np.asarray(self.dilations), self.n_kernels)

    @property
    def names(self) -> list[str]:
        return [f"{stat}_{k}" for stat in ("ppv", "max", "mean") for k in range(self.n_kernels)]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Features (N, 3 * n_kernels) float32 of crops ``x`` (N, 3, H, W) in [0, 1]."""
        return pooled_responses(x, *self.kernels())


def pooled_responses(x: np.ndarray, w: np.ndarray, dil: np.ndarray, chunk: int = 128) -> np.ndarray:
    """Per kernel of ``w`` (K, size, size, 3) with dilations ``dil``: the fraction of positive
    responses, the maximum and the mean over crops ``x`` (N, 3, H, W); (N, 3 * K) float32."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected crops (N, 3, H, W), got shape {x.shape}")
    span = (w.shape[1] - 1) * int(np.max(dil)) + 1
    if min(x.shape[2:]) < span:
        raise ValueError(f"crops of {x.shape[2:]} px are smaller than a dilated kernel "
                         f"({span} px)")
    order = np.argsort(dil, kind="stable")
    parts = [_pooled_chunk(x[s:s + chunk], w, dil) for s in range(0, len(x), chunk)]
    out = np.concatenate(parts) if parts else np.zeros((0, 3, len(w)), np.float32)
    feats = np.empty_like(out)
    feats[:, :, order] = out
    return feats.reshape(len(x), -1)


def _pooled_chunk(x: np.ndarray, w: np.ndarray, dil: np.ndarray) -> np.ndarray:
    """(n, 3 stats, kernels sorted by dilation) for one chunk of crops."""
    img = x.astype(np.float32).transpose(0, 2, 3, 1)
    mean = img.mean(axis=(1, 2), keepdims=True)
    img = (img - mean) / (img.std(axis=(1, 2), keepdims=True) + 1e-3)
    size = w.shape[1]
    stats = []
    for d in np.unique(dil):
        span = (size - 1) * int(d) + 1
        win = sliding_window_view(img, (span, span), axis=(1, 2))[..., ::d, ::d]
        resp = np.einsum("nhwcij,kijc->nhwk", win, w[dil == d], optimize=True)
        stats.append(np.stack([(resp > 0).mean(axis=(1, 2)), resp.max(axis=(1, 2)),
                               resp.mean(axis=(1, 2))], axis=1))
    return np.concatenate(stats, axis=2).astype(np.float32)


FEATURE_NAMES = (
    [f"{region}_{stat}_{c}" for region in ("centre", "disc", "ring") for stat in ("mean", "std")
     for c in "rgb"]
    + [f"pallor_{c}" for c in "rgb"] + [f"disc_ring_ratio_{c}" for c in "rgb"]
    + ["lum_q50", "lum_q90", "lum_q99", "bright_fraction", "vessels_disc", "vessels_ring",
       "edges_centre", "edges_disc", "edges_ring", "disc_radius", "disc_confidence"]
)


def disc_features(x: np.ndarray, locations: pd.DataFrame) -> np.ndarray:
    """Hand-made features of disc crops (N, 3, S, S) in [0, 1], vectorised: (N, len(FEATURE_NAMES)).

    Colour statistics of the disc centre (where a glaucomatous cup is pale), the disc and the
    surrounding ring; centre/ring brightness (pallor); fraction of very bright pixels; vessel
    and edge density; the detected disc radius and detector confidence.
    """
    n, _, h, w = x.shape
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2) / (h / 2)
    centre, disc, ring = r < 0.25, r < 0.45, (r >= 0.45) & (r < 0.9)
    parts = []
    for m in (centre, disc, ring):
        v = x[:, :, m]
        parts += [v.mean(axis=2), v.std(axis=2)]
    ring_mean = x[:, :, ring].mean(axis=2) + 1e-3
    parts += [x[:, :, centre].mean(axis=2) / ring_mean, x[:, :, disc].mean(axis=2) / ring_mean]
    lum = x.mean(axis=1)
    flat = lum.reshape(n, -1)
    parts.append(np.quantile(flat, [0.5, 0.9, 0.99], axis=1).T)
    top = np.quantile(flat, 0.95, axis=1)[:, None, None]
    parts.append((((lum > top) & disc).sum(axis=(1, 2)) / disc.sum())[:, None])
    green = x[:, 1]
    vessels = np.maximum(smooth(green, max(1, h // 32)) - green, 0)
    parts.append(np.stack([vessels[:, disc].mean(axis=1), vessels[:, ring].mean(axis=1)], 1))
    gy, gx = np.gradient(lum, axis=(1, 2))
    edges = np.hypot(gx, gy)
    parts.append(np.stack([edges[:, m].mean(axis=1) for m in (centre, disc, ring)], 1))
    parts.append(locations[["radius", "confidence"]].to_numpy(np.float32))
    return np.concatenate([p.reshape(n, -1) for p in parts], axis=1).astype(np.float32)
