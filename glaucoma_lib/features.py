"""Random-kernel texture features of disc crops (a fixed, untrained convolution layer).

On G1020 every CNN trained from scratch and every hand-made disc statistic scored chance in
blocked cross-validation on the 800 training images; a wide bank of random convolution kernels
(as in ROCKET / random-feature models) with a strongly regularised logistic regression on top
was the first thing that did better (blocked 5-fold CV AUC ~0.58 on tight 96 px disc crops).
With so few images, not learning the filters at all overfits less than learning them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


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

    def __call__(self, x: np.ndarray, chunk: int = 128) -> np.ndarray:
        """Features (N, 3 * n_kernels) float32 of crops ``x`` (N, 3, H, W) in [0, 1]."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected crops (N, 3, H, W), got shape {x.shape}")
        span = (self.size - 1) * max(self.dilations) + 1
        if min(x.shape[2:]) < span:
            raise ValueError(f"crops of {x.shape[2:]} px are smaller than a dilated kernel "
                             f"({span} px)")
        w, dil = self.kernels()
        order = np.argsort(dil, kind="stable")
        parts = [self._pooled(x[s:s + chunk], w, dil) for s in range(0, len(x), chunk)]
        out = np.concatenate(parts) if parts else np.zeros((0, 3, self.n_kernels), np.float32)
        feats = np.empty_like(out)
        feats[:, :, order] = out
        return feats.reshape(len(x), -1)

    def _pooled(self, x: np.ndarray, w: np.ndarray, dil: np.ndarray) -> np.ndarray:
        """(n, 3 stats, kernels sorted by dilation) for one chunk of crops."""
        img = x.astype(np.float32).transpose(0, 2, 3, 1)
        mean = img.mean(axis=(1, 2), keepdims=True)
        img = (img - mean) / (img.std(axis=(1, 2), keepdims=True) + 1e-3)
        stats = []
        for d in np.unique(dil):
            span = (self.size - 1) * int(d) + 1
            win = sliding_window_view(img, (span, span), axis=(1, 2))[..., ::d, ::d]
            resp = np.einsum("nhwcij,kijc->nhwk", win, w[dil == d], optimize=True)
            stats.append(np.stack([(resp > 0).mean(axis=(1, 2)), resp.max(axis=(1, 2)),
                                   resp.mean(axis=(1, 2))], axis=1))
        return np.concatenate(stats, axis=2).astype(np.float32)
