"""Learning-rate schedules for Trainer(lr_schedule=...): called with the 0-based epoch index at the
start of each epoch, they return that epoch's learning rate."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WarmupCosine:
    """Linear warm-up over `warmup` epochs (lr * (e + 1) / warmup), then cosine decay from lr
    towards 0 over the remaining epochs: epoch warmup gets lr, the last epoch a small positive
    rate (the cosine is evaluated at (e - warmup) / (epochs - warmup), never reaching 1)."""

    lr: float
    epochs: int
    warmup: int = 2

    def __post_init__(self):
        if self.epochs < 1 or not 0 <= self.warmup < self.epochs:
            raise ValueError(f"need epochs >= 1 and 0 <= warmup < epochs, got {self}")

    def __call__(self, epoch: int) -> float:
        if epoch < self.warmup:
            return self.lr * (epoch + 1) / self.warmup
        progress = (epoch - self.warmup) / (self.epochs - self.warmup)
        return 0.5 * self.lr * (1.0 + math.cos(math.pi * progress))
