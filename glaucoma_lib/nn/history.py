"""History: a training run's per-iteration and per-epoch records, as JSON and as a table."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from glaucoma_lib.nn.atomic import atomic_write


@dataclass
class History:
    """Per-iteration and per-epoch training records; val/test entries are None when absent."""

    train_loss: list[float] = field(default_factory=list)  # every iteration
    epoch_loss: list[float] = field(default_factory=list)  # mean batch loss of each epoch
    train_acc: list[float | None] = field(default_factory=list)
    val_acc: list[float | None] = field(default_factory=list)
    test_acc: list[float | None] = field(default_factory=list)
    train_auc: list[float | None] = field(default_factory=list)
    val_auc: list[float | None] = field(default_factory=list)
    test_auc: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    test_loss: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    iter_per_epoch: int = 0
    select_best_by: str | None = None
    best_epoch: int | None = None  # 1-based epoch whose weights the network ends with
    interrupted: bool = False

    @property
    def epochs_completed(self) -> int:
        return len(self.epoch_loss)

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """JSON text; also written atomically to `path` when given."""
        text = json.dumps(asdict(self), indent=1)
        if path is not None:
            with atomic_write(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> History:
        """From JSON text or from a file path."""
        text = str(source)
        if isinstance(source, os.PathLike) or not text.lstrip().startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        return cls(**json.loads(text))

    def add_scores(self, name: str, scores: tuple[float | None, float | None, float | None]
                   ) -> None:
        """Append one epoch's (accuracy, AUC, loss) of the set `name` (train has no loss)."""
        acc, auc, loss = scores
        getattr(self, f"{name}_acc").append(acc)
        getattr(self, f"{name}_auc").append(auc)
        if name != "train":
            getattr(self, f"{name}_loss").append(loss)

    def set_scores(self, name: str, scores: list[tuple]) -> None:
        """Replace the per-epoch scores of the set `name` (evaluate_epochs computed them)."""
        for field_name in ("acc", "auc") if name == "train" else ("acc", "auc", "loss"):
            setattr(self, f"{name}_{field_name}", [])  # train_loss is per batch, not a score
        for epoch in scores:
            self.add_scores(name, epoch)

    def to_frame(self) -> pd.DataFrame:
        """One row per epoch (1-based index "epoch")."""
        columns = ["epoch_loss", "train_acc", "val_acc", "test_acc", "train_auc", "val_auc",
                   "test_auc", "val_loss", "test_loss", "lr", "epoch_seconds"]
        frame = pd.DataFrame({c: pd.array(getattr(self, c), dtype="Float64") for c in columns})
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
        return frame
