"""The NumPy logistic regression against scikit-learn's at a tight tolerance."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from glaucoma_lib.models.linear import LinearScorer, fit_linear


@pytest.mark.parametrize("c", [0.001, 0.01, 1.0])
def test_newton_fit_matches_scikit_learn_balanced_l2(c):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 40)).astype(np.float32)
    t = (x[:, 0] + rng.normal(size=200) > 0.8).astype(int)  # imbalanced, as in G1020
    ours = fit_linear(x, t, c)
    mean, scale = x.mean(0).astype(np.float64), x.std(0).astype(np.float64) + 1e-6
    theirs = LogisticRegression(C=c, max_iter=100_000, tol=1e-12, class_weight="balanced")
    theirs.fit((x - mean) / scale, t)
    np.testing.assert_allclose(ours.coef, theirs.coef_[0], atol=1e-5)
    assert ours.intercept == pytest.approx(theirs.intercept_[0], abs=1e-5)


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="both classes"):
        fit_linear(np.ones((5, 2), np.float32), np.zeros(5))


def test_extreme_logits_give_0_and_1_without_warnings():
    scorer = LinearScorer(np.zeros(1), np.ones(1), np.ones(1), 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = scorer.predict_proba(np.array([[-1e6], [0.0], [1e6]]))
    np.testing.assert_allclose(p, [0.0, 0.5, 1.0], atol=1e-12)
