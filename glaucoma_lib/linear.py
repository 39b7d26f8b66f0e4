"""A standardise-then-logistic-regression scorer stored as plain arrays (no pickles in weight
files): the final layer of the texture model and the stacker of the CNN kinds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LinearScorer:
    """Standardise-then-logistic model stored as plain arrays (no pickles in weight files)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logit(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.coef + self.intercept

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(features)))

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": float(self.intercept)}

    @classmethod
    def from_dict(cls, d: dict) -> LinearScorer:
        return cls(np.asarray(d["mean"], np.float64), np.asarray(d["scale"], np.float64),
                   np.asarray(d["coef"], np.float64), float(d["intercept"]))


def fit_linear(features: np.ndarray, t: np.ndarray, c: float = 0.01) -> LinearScorer:
    """Class-balanced L2 logistic regression (scikit-learn), strongly regularised: few samples."""
    from sklearn.linear_model import LogisticRegression  # deferred: heavy import

    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    model.fit((features - mean) / scale, t)
    # stored as float64, so the model in memory scores exactly as the one read back from a file
    return LinearScorer(mean.astype(np.float64), np.asarray(scale, np.float64),
                        model.coef_[0].astype(np.float64), float(model.intercept_[0]))
