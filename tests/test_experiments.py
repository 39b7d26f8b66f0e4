"""Cross-validation, the texture CV, seed runs with their records and the notebook tables."""

from dataclasses import replace

import numpy as np
import pytest
from conftest import TINY, disc_data

from glaucoma_lib.models.kinds import load_model
from glaucoma_lib.study import experiments, sentences


def test_texture_model_learns_the_planted_signal():
    d = disc_data(n=90)
    folds = [(np.r_[30:90], np.r_[0:30]), (np.r_[0:30, 60:90], np.r_[30:60]),
             (np.r_[0:60], np.r_[60:90])]
    table = experiments.texture_cross_validate(d, folds, replace(TINY, texture_c=1.0))
    assert table["auc"].min() > 0.8


def test_cross_validation_covers_every_sample_once():
    d = disc_data(n=45)
    folds = [(np.r_[15:45], np.r_[0:15]), (np.r_[0:15, 30:45], np.r_[15:30]),
             (np.r_[0:30], np.r_[30:45])]
    table, oof = experiments.cross_validate(d, TINY, folds)
    assert len(table) == 3 and np.isfinite(oof).all()


def test_train_seeds_writes_weights_records_and_a_companion_cnn(tmp_path, monkeypatch):
    monkeypatch.setenv("GLAUCOMA_MODELS_DIR", str(tmp_path))
    d = disc_data(n=60)
    train, test = d.subset(np.arange(45)), d.subset(np.arange(45, 60))
    data_dir = tmp_path / "data"
    (data_dir / "Images_Square").mkdir(parents=True)
    (data_dir / "G1020.csv").write_text("imageID,binaryLabels\n")
    config = replace(TINY, scorer="texture")
    records = experiments.train_seeds(train, test, config, [0, 1], data_dir, synthetic=True,
                                      notes=sentences.method_note(config))
    assert [r["seed"] for r in records] == [0, 1]
    for r in records:
        assert "texture model" in r["notes"] and "all training images" in r["notes"]
        assert load_model(experiments.run_weights(r)).kind == "texture"
        cnn = load_model(experiments.run_weights(r, experiments.COMPANION_CNN_FILE))
        assert cnn.kind == "disc_cnn"
        assert len(r["metrics"]["predictions"]["prob_glaucoma"]) == 15
    assert experiments.choose_final(records)["metrics"]["validation"]["val_auc"] == max(
        r["metrics"]["validation"]["val_auc"] for r in records)
    summary = experiments.seed_summary(records)
    assert list(summary.index) == ["seed 0", "seed 1", "mean", "std"]
    base = experiments.baseline_run(train, test)
    table = experiments.test_comparison_table(records, base)
    final = experiments.choose_final(records)["metrics"]["test"]
    ci = table.loc["test ROC AUC (95% CI)"]  # intervals only: the seed spread has its own row
    assert ci["improved, chosen model (seed "
              f"{experiments.choose_final(records)['seed']})"].endswith(
        f"({final['auc_ci_low']:.3f}–{final['auc_ci_high']:.3f})")
    assert not ci.astype(str).str.contains("±").any()
    assert table.loc["test ROC AUC, mean ± sd over seeds",
                     "improved (mean of 2 seeds)"] == (f"{summary.loc['mean', 'auc']:.3f} ± "
                                                       f"{summary.loc['std', 'auc']:.3f}")


def test_confidence_table_splits_by_detector_confidence():
    y = np.array([0, 1, 0, 1, 0, 1])
    prob = np.array([0.1, 0.9, 0.2, 0.8, 0.9, 0.1])
    conf = np.array([0.9, 0.9, 0.9, 0.9, 0.1, 0.1])
    table = experiments.confidence_table(y, prob, 0.5, conf)
    assert table.loc["confidence >= 0.8", "ROC AUC"] == pytest.approx(1.0)
    assert table.loc["confidence < 0.8", "accuracy"] == pytest.approx(0.0)
    assert table["images"].tolist() == [4, 2]


def test_leakage_permutations_repeat_the_random_folds_against_one_blocked_score():
    d = disc_data(n=60)
    d.t[::4] = 1 - d.t[::4]  # label noise, so fold AUCs differ between fold assignments
    config = replace(TINY, scorer="texture", texture_c=1.0)
    table = experiments.leakage_permutations(d, config, seed=3, n_permutations=4, k=3)
    assert table["permutation seed"].tolist() == [3, 4, 5, 6]
    assert table["blocked fold AUC mean"].nunique() == 1
    assert table["random fold AUC mean"].nunique() > 1  # each permutation its own folds
    gap = table["blocked fold AUC mean"] - table["random fold AUC mean"]
    assert np.allclose(table["gap (blocked - random)"], gap)
    text = sentences.leakage_text(table)
    assert text.startswith("Over 4 random fold assignments (permutation seeds 3–6)")
    assert f"{gap.mean():+.3f}" in text and "because" not in text
    with pytest.raises(ValueError, match="texture"):
        experiments.leakage_permutations(d, TINY, n_permutations=1)
