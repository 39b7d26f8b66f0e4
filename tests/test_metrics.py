"""Metrics cross-checked against scikit-learn and against hand-worked cases."""

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from glaucoma_lib import metrics


@pytest.fixture
def scored():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 220)
    score = np.round(rng.random(220) * 0.6 + 0.3 * y, 2)  # rounding creates ties
    return y, score


def test_roc_auc_matches_sklearn_with_ties(scored):
    y, score = scored
    assert metrics.roc_auc(y, score) == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)


def test_roc_auc_hand_cases():
    assert metrics.roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert metrics.roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert metrics.roc_auc([0, 1], [0.5, 0.5]) == 0.5


def test_roc_auc_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        metrics.roc_auc([1, 1, 1], [0.1, 0.2, 0.3])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="differ in length"):
        metrics.roc_auc([0, 1], [0.1])
    with pytest.raises(ValueError, match="0 \\(healthy\\) or 1"):
        metrics.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        metrics.roc_auc([0, 1], [0.1, np.nan])


def test_roc_curve_matches_sklearn(scored):
    y, score = scored
    fpr, tpr, thr = metrics.roc_curve(y, score)
    sk_fpr, sk_tpr, sk_thr = skm.roc_curve(y, score, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    assert np.trapezoid(tpr, fpr) == pytest.approx(metrics.roc_auc(y, score))


def test_bootstrap_ci_brackets_estimate_and_is_deterministic(scored):
    y, score = scored
    est, low, high = metrics.bootstrap_ci(y, score, metrics.roc_auc, n=500, seed=1)
    assert low < est < high
    assert 0.02 < high - low < 0.3
    assert metrics.bootstrap_ci(y, score, metrics.roc_auc, n=500, seed=1) == (est, low, high)
    assert metrics.bootstrap_ci(y, score, metrics.roc_auc, n=500, seed=2) != (est, low, high)


def test_confusion_and_sensitivity_specificity():
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    pred = np.array([0, 1, 0, 1, 1, 0, 1])
    cm = metrics.confusion(y, pred)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y, pred))
    np.testing.assert_array_equal(cm, [[2, 1], [1, 3]])
    assert metrics.sensitivity_specificity(y, pred) == pytest.approx((0.75, 2 / 3))
    assert metrics.accuracy(y, pred) == pytest.approx(5 / 7)


def test_always_healthy_accuracy_is_the_healthy_share():
    y = np.r_[np.zeros(157), np.ones(63)]
    assert metrics.always_healthy_accuracy(y) == pytest.approx(157 / 220)
    assert metrics.accuracy(y, np.zeros_like(y)) == metrics.always_healthy_accuracy(y)


def test_threshold_youden_separates_perfectly():
    y = [0, 0, 0, 1, 1]
    score = [0.1, 0.2, 0.3, 0.7, 0.9]
    t = metrics.threshold_youden(y, score)
    pred = (np.asarray(score) >= t).astype(int)
    assert metrics.sensitivity_specificity(y, pred) == (1.0, 1.0)


def test_threshold_and_sensitivity_at_specificity(scored):
    y, score = scored
    t = metrics.threshold_at_specificity(y, score, 0.9)
    sens, spec = metrics.sensitivity_specificity(y, (score >= t).astype(int))
    assert spec >= 0.9
    assert sens == pytest.approx(metrics.sensitivity_at_specificity(y, score, 0.9))
    fpr, tpr, _ = skm.roc_curve(y, score)
    assert sens == pytest.approx(tpr[fpr <= 0.1].max())


def test_brier_score_matches_sklearn(scored):
    y, score = scored
    assert metrics.brier_score(y, score) == pytest.approx(skm.brier_score_loss(y, score))


def test_reliability_curve_matches_sklearn(scored):
    y, prob = scored
    mean_prob, observed, count = metrics.reliability_curve(y, prob, n_bins=5)
    sk_obs, sk_pred = calibration_curve(y, prob, n_bins=5)
    np.testing.assert_allclose(observed, sk_obs)
    np.testing.assert_allclose(mean_prob, sk_pred)
    assert count.sum() == y.size


def test_equal_count_reliability_bins_match_sklearn_quantiles(scored):
    """Quantile bins hold about the same number of images, as scikit-learn bins them."""
    y, prob = scored
    mean_prob, observed, count = metrics.reliability_curve(y, prob, n_bins=5, equal_count=True)
    sk_obs, sk_pred = calibration_curve(y, prob, n_bins=5, strategy="quantile")
    np.testing.assert_allclose(observed, sk_obs)
    np.testing.assert_allclose(mean_prob, sk_pred)
    assert count.sum() == y.size and count.min() >= 0.8 * y.size / 5  # ties shift a few


def test_screening_summary_is_json_ready(scored):
    import json

    y, prob = scored
    summary = metrics.screening_summary(y, prob)
    json.dumps(summary)
    assert summary["n"] == 220
    assert summary["auc_ci_low"] < summary["auc"] < summary["auc_ci_high"]


def test_truncated_batch_accuracy_replicates_the_originals_final_score():
    """220 labels, batches of 50: 200 scored, divided by 220; 151 healthy in the first 200."""
    y = np.r_[np.zeros(151, int), np.ones(49, int), np.zeros(20, int)]
    healthy = np.zeros(220, int)
    result = metrics.truncated_batch_accuracy(y, healthy, 50)
    assert (result["scored"], result["divided_by"], result["correct"]) == (200, 220, 151)
    assert result["accuracy"] == 151 / 220 == result["always_healthy_accuracy"]
    assert round(result["accuracy"], 4) == 0.6864
    assert metrics.truncated_batch_accuracy(y, y, 50)["accuracy"] == 200 / 220  # 20 never scored


def test_truncated_batch_accuracy_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="as many predictions"):
        metrics.truncated_batch_accuracy(np.zeros(10, int), np.zeros(9, int), 5)
