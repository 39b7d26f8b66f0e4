"""A standardise-then-logistic-regression scorer stored as plain arrays (no pickles in weight
files): the final layer of the texture model and the stacker of the CNN kinds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) without overflow warnings: beyond |z| = 500 it is 0 or 1 in float64."""
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500.0, 500.0)))


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
        return sigmoid(self.logit(features))

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": float(self.intercept)}

    @classmethod
    def from_dict(cls, d: dict) -> LinearScorer:
        return cls(np.asarray(d["mean"], np.float64), np.asarray(d["scale"], np.float64),
                   np.asarray(d["coef"], np.float64), float(d["intercept"]))


def fit_linear(features: np.ndarray, t: np.ndarray, c: float = 0.01) -> LinearScorer:
    """Class-balanced L2 logistic regression on standardised features, fitted in NumPy.

    Minimises 0.5 * |coef|^2 + c * sum_i w_i * logloss_i (the intercept is not penalised;
    w_i = n / (2 * n_class), scikit-learn's "balanced") by Newton's method, which converges in
    a handful of steps here: few samples, strong regularisation, a convex objective.
    """
    t = np.asarray(t, dtype=np.float64)
    if np.unique(t).size != 2:
        raise ValueError("fit_linear needs both classes among the labels")
    mean = features.mean(axis=0).astype(np.float64)
    scale = features.std(axis=0).astype(np.float64) + 1e-6
    x = np.hstack([(features - mean) / scale, np.ones((len(t), 1))])
    weights = c * len(t) / (2.0 * np.where(t == 1, t.sum(), len(t) - t.sum()))
    ridge = np.eye(x.shape[1])
    ridge[-1, -1] = 0.0
    beta = np.zeros(x.shape[1])
    for _ in range(100):
        p = sigmoid(x @ beta)
        gradient = x.T @ (weights * (p - t)) + ridge @ beta
        hessian = (x * (weights * p * (1 - p))[:, None]).T @ x + ridge
        step = np.linalg.solve(hessian + 1e-12 * np.eye(len(beta)), gradient)
        beta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return LinearScorer(mean, scale, beta[:-1].copy(), float(beta[-1]))


def linear_oof(features: np.ndarray, t: np.ndarray, folds: list, c: float) -> np.ndarray:
    """Out-of-fold probabilities of the logistic regression on fixed features: each fold's
    images scored by a scorer fitted on the others."""
    oof = np.empty(len(t))
    for tr, te in folds:
        oof[te] = fit_linear(features[tr], t[tr], c).predict_proba(features[te])
    return oof
