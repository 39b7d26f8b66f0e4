"""Screening metrics in plain NumPy: what the original study lacked to judge its own numbers.

Labels are 1 = glaucoma (positive), 0 = healthy. Scores are the predicted probability of
glaucoma (higher = more suspicious). Every function is vectorised and deterministic.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray], float]


def _labels_and_scores(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate once so every metric fails with the same clear message."""
    y = np.asarray(y).ravel()
    score = np.asarray(score, dtype=np.float64).ravel()
    if y.shape != score.shape:
        raise ValueError(f"labels and scores differ in length: {y.shape[0]} vs {score.shape[0]}")
    if y.size == 0:
        raise ValueError("labels are empty")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (healthy) or 1 (glaucoma)")
    if not np.isfinite(score).all():
        raise ValueError("scores contain NaN or infinity")
    return y.astype(np.int64), score


def _binary(y: np.ndarray, name: str = "labels") -> np.ndarray:
    y = np.asarray(y).ravel()
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{name} must be 0 (healthy) or 1 (glaucoma)")
    return y.astype(np.int64)


def _rankdata(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) with ties sharing the mean rank, like scipy.stats.rankdata."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    counts = np.diff(np.r_[first, x.size])
    mean_rank = first + (counts + 1) / 2.0
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = mean_rank[group]
    return ranks


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney rank sum; ties count one half."""
    y, score = _labels_and_scores(y, score)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both classes in the labels")
    ranks = _rankdata(score)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate, thresholds), predicting glaucoma when score >= t.

    Starts at (0, 0) with threshold +inf, one point per distinct score, like scikit-learn
    with drop_intermediate=False.
    """
    y, score = _labels_and_scores(y, score)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("a ROC curve needs both classes in the labels")
    order = np.argsort(-score, kind="mergesort")
    s, yy = score[order], y[order]
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    tp = np.cumsum(yy)[last_of_tie]
    fp = np.cumsum(1 - yy)[last_of_tie]
    tpr = np.r_[0.0, tp / n_pos]
    fpr = np.r_[0.0, fp / n_neg]
    thresholds = np.r_[np.inf, s[last_of_tie]]
    return fpr, tpr, thresholds


def bootstrap_ci(
    y: np.ndarray,
    score: np.ndarray,
    metric: Metric = roc_auc,
    n: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(point estimate, low, high): percentile interval over n resamples of the test images.

    Resamples lacking one class are redrawn out (skipped) so AUC stays defined; the
    interval says how much the number would move with another draw of 220 patients.
    """
    y, score = _labels_and_scores(y, score)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, y.size, size=(n, y.size))
    both = (y[idx].min(axis=1) == 0) & (y[idx].max(axis=1) == 1)
    values = np.array([metric(y[i], score[i]) for i in idx[both]])
    if values.size == 0:
        raise ValueError("no bootstrap resample contained both classes")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(metric(y, score)), float(low), float(high)


def cluster_bootstrap_ci(
    y: np.ndarray,
    score: np.ndarray,
    groups: np.ndarray | None,
    n: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(AUC, low, high), resampling whole patients: a patient's photographs are not
    independent, so the interval resamples patients with replacement and takes all their
    images. Without patients (``groups`` None) each image is its own cluster."""
    y, score = _labels_and_scores(y, score)
    if groups is None:
        return bootstrap_ci(y, score, roc_auc, n, seed, level)
    _, cluster = np.unique(np.asarray(groups), return_inverse=True)
    if cluster.size != y.size:
        raise ValueError(f"{y.size} labels but {cluster.size} group identifiers")
    order = np.argsort(cluster, kind="stable")
    starts = np.searchsorted(cluster[order], np.arange(cluster.max() + 1))
    ends = np.append(starts[1:], y.size)
    rng = np.random.default_rng(seed)
    values = []
    for drawn in rng.integers(0, len(starts), size=(n, len(starts))):
        idx = np.concatenate([order[s:e] for s, e in zip(starts[drawn], ends[drawn], strict=True)])
        if 0 < y[idx].sum() < idx.size:
            values.append(roc_auc(y[idx], score[idx]))
    if not values:
        raise ValueError("no bootstrap resample contained both classes")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(roc_auc(y, score)), float(low), float(high)


def confusion(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """2x2 counts [[TN, FP], [FN, TP]]: rows are the truth, columns the prediction."""
    y = _binary(y)
    pred = _binary(pred, "predictions")
    if y.shape != pred.shape:
        raise ValueError(f"labels and predictions differ in length: {y.size} vs {pred.size}")
    return np.bincount(2 * y + pred, minlength=4).reshape(2, 2)


def sensitivity_specificity(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(sensitivity, specificity): glaucoma found, healthy cleared; NaN if a class is absent."""
    (tn, fp), (fn, tp) = confusion(y, pred)
    sens = tp / (tp + fn) if tp + fn else float("nan")
    spec = tn / (tn + fp) if tn + fp else float("nan")
    return float(sens), float(spec)


def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Fraction of correct predictions."""
    cm = confusion(y, pred)
    return float(np.trace(cm) / cm.sum())


def always_healthy_accuracy(y: np.ndarray) -> float:
    """Accuracy of a 'classifier' that calls every eye healthy: the floor any model must beat."""
    y = _binary(y)
    if y.size == 0:
        raise ValueError("labels are empty")
    return float(np.mean(y == 0))


def truncated_batch_accuracy(y: np.ndarray, pred: np.ndarray, batch_size: int) -> dict:
    """Accuracy as the original study computed its final score, bug included.

    Its `accuracy(x, t, batch_size)` (deep-learning-from-scratch style) counts correct answers
    over int(N / batch_size) whole batches only, then divides by N: the last N % batch_size images
    are never scored yet count as wrong. Replicated so its reported number can be traced; the
    always-healthy answer is scored the same way beside it.
    """
    y, pred = _binary(y), _binary(pred, "predictions")
    if y.size == 0 or y.shape != pred.shape:
        raise ValueError(f"need as many predictions as labels, got {pred.size} and {y.size}")
    scored = (y.size // batch_size) * batch_size
    correct = int(np.sum(pred[:scored] == y[:scored]))
    healthy = int(np.sum(y[:scored] == 0))
    return {"batch_size": batch_size, "scored": scored, "divided_by": int(y.size),
            "correct": correct, "accuracy": correct / y.size,
            "always_healthy_correct": healthy, "always_healthy_accuracy": healthy / y.size}


def threshold_youden(y: np.ndarray, score: np.ndarray) -> float:
    """Threshold maximising sensitivity + specificity - 1 (choose it on validation, never test)."""
    fpr, tpr, thresholds = roc_curve(y, score)
    j = tpr - fpr
    best = int(np.argmax(j[1:])) + 1
    return float(thresholds[best])


def threshold_at_specificity(y: np.ndarray, score: np.ndarray, specificity: float = 0.9) -> float:
    """Lowest threshold whose specificity is still at least the target (most sensitive such cut)."""
    if not 0 <= specificity <= 1:
        raise ValueError(f"specificity must lie in [0, 1], got {specificity}")
    fpr, _, thresholds = roc_curve(y, score)
    ok = np.flatnonzero(1.0 - fpr >= specificity - 1e-12)
    return float(thresholds[ok[-1]])


def sensitivity_at_specificity(
    y: np.ndarray, score: np.ndarray, specificity: float = 0.9
) -> float:
    """Best sensitivity reachable while keeping specificity at least the target."""
    fpr, tpr, _ = roc_curve(y, score)
    ok = 1.0 - fpr >= specificity - 1e-12
    return float(tpr[ok].max())


def brier_score(y: np.ndarray, prob: np.ndarray) -> float:
    """Mean squared error of the glaucoma probability: rewards calibrated, confident answers."""
    y, prob = _labels_and_scores(y, prob)
    return float(np.mean((prob - y) ** 2))


def reliability_curve(
    y: np.ndarray, prob: np.ndarray, n_bins: int = 10, equal_count: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean predicted probability, observed glaucoma fraction, count) per bin: equal-width
    bins, or with ``equal_count`` bins at the quantiles of ``prob`` (scikit-learn's
    "quantile" strategy), so that no bin holds a handful of images.

    Bins are (low, high] like scikit-learn; empty bins are dropped; calibrated = on the diagonal.
    """
    y, prob = _labels_and_scores(y, prob)
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    if prob.min() < 0 or prob.max() > 1:
        raise ValueError("probabilities must lie in [0, 1]")
    fractions = np.linspace(0.0, 1.0, n_bins + 1)
    edges = np.quantile(prob, fractions) if equal_count else fractions
    bins = np.searchsorted(edges[1:-1], prob)
    count = np.bincount(bins, minlength=n_bins)
    sum_prob = np.bincount(bins, weights=prob, minlength=n_bins)
    sum_pos = np.bincount(bins, weights=y, minlength=n_bins)
    keep = count > 0
    return sum_prob[keep] / count[keep], sum_pos[keep] / count[keep], count[keep]


def screening_summary(y: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> dict:
    """Every number the report shows for one model on one split, as plain floats for JSON."""
    y, prob = _labels_and_scores(y, prob)
    pred = (prob >= threshold).astype(np.int64)
    sens, spec = sensitivity_specificity(y, pred)
    summary = {
        "n": int(y.size),
        "n_glaucoma": int(y.sum()),
        "threshold": float(threshold),
        "accuracy": accuracy(y, pred),
        "always_healthy_accuracy": always_healthy_accuracy(y),
        "sensitivity": sens,
        "specificity": spec,
        "confusion": confusion(y, pred).tolist(),
        "brier": brier_score(y, prob),
    }
    if 0 < y.sum() < y.size:
        auc, low, high = bootstrap_ci(y, prob, roc_auc)
        summary.update(auc=auc, auc_ci_low=low, auc_ci_high=high)
    return summary
