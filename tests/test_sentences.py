"""The notebooks' sentences are generated from tables and records: check them on small inputs."""

import numpy as np
import pandas as pd
import pytest
from conftest import TINY

from glaucoma_lib.models.disc_model import DiscModelConfig
from glaucoma_lib.study import sentences
from glaucoma_lib.study.audit import AUDITED_MISSES

INFO = {"finished": "2026-11-30 16:05 UTC",
        "candidates": {"a": {"scorer": "cnn"}, "b": {"scorer": "cnn"},
                       "t": {"scorer": "texture"}}}
SWEEP = pd.DataFrame({"name": ["a", "b", "t"], "cv_auc_mean": [0.466, 0.522, 0.58],
                      "seconds": [600.0, 600.0, 600.0]})


def test_sweep_text_takes_the_cnn_range_from_the_table_and_names_its_provenance():
    text = sentences.sweep_text(SWEEP, INFO, same_data=True)
    assert "The 2 CNN variants scored 0.466–0.522" in text and "t 0.580" in text
    assert "took 30 minutes" in text and "2026-11-30 16:05 UTC" in text
    assert "rows of candidates not named" in text and "other data" not in text
    assert "other data" in sentences.sweep_text(SWEEP, INFO, same_data=False)


def test_sweep_text_says_which_rows_are_older_than_the_last_run():
    partial = sentences.sweep_text(SWEEP, {**INFO, "rerun": ["t"]}, same_data=True)
    assert "it keeps a, b from earlier runs" in partial
    whole = sentences.sweep_text(SWEEP, {**INFO, "rerun": ["a", "b", "t"]}, same_data=True)
    assert "Every row comes from one run of `make sweep`, finished 2026-11-30 16:05 UTC." in whole
    assert "earlier runs" not in whole


def test_ideas_text_names_ideas_above_chance_in_every_fold():
    ideas = pd.DataFrame({"idea": ["x", "y"], "cv_auc_mean": [0.52, 0.58],
                          "cv_auc_std": [0.04, 0.02],
                          "fold_aucs": ["0.45 0.60 0.51", "0.55 0.60 0.59"]})
    assert sentences.ideas_text(ideas) == ("Above 0.5 in every fold: y. Best mean: y "
                                           "(0.580 ± 0.020).")


def test_forking_paths_states_the_unrecorded_settings_from_the_configuration():
    text = sentences.forking_paths_text(DiscModelConfig(), 12, 6)
    assert "C = 0.001, 150 kernels of size 5, dilations (1, 2, 3)" in text
    assert "12 sweep rows and 6 fast ideas" in text and "no record" in text


def test_explanation_text_counts_audited_misses_among_the_cases_shown():
    ids = [f"image_{AUDITED_MISSES[0]}.jpg", "image_9000.jpg", f"image_{AUDITED_MISSES[1]}.jpg"]
    text = sentences.explanation_text(DiscModelConfig(), ids, np.array([True, True, False]),
                                      0.5123, applies=True)
    assert "disc CNN trained beside it" in text and "0.512" in text
    assert f"2 confident correct cases shown: 1 (image_{AUDITED_MISSES[0]}.jpg)" in text
    assert "1 confident wrong" in text
    own = sentences.explanation_text(TINY, ids, np.ones(3, bool), 0.5, applies=False)
    assert own == "The maps are those of the final scorer."


def test_confidence_text_reads_the_table():
    table = pd.DataFrame({"images": [185, 35], "ROC AUC": [0.496, 0.603]},
                         index=["confidence >= 0.8", "confidence < 0.8"])
    ids = [f"image_{n}.jpg" for n in AUDITED_MISSES[:2]] + ["image_9000.jpg"]
    text = sentences.confidence_text(table, ids, np.array([0.1, 0.9, 0.1]), 0.8, applies=True)
    assert text.startswith("ROC AUC 0.496 on the 185 test images with detector confidence >= "
                           "0.8; 0.603 on the 35 test images with detector confidence < 0.8.")
    table.loc["confidence < 0.8", "ROC AUC"] = np.nan
    assert "not measurable on the 35 test images" in sentences.confidence_text(
        table, ids, np.ones(3), 0.8, applies=False)
    assert f"Of the {len(AUDITED_MISSES)} audited misses, 1 have confidence below 0.8." in text


@pytest.mark.parametrize("synthetic", [True, False])
def test_evaluation_findings_from_the_summaries(synthetic):
    summary = pd.DataFrame({"auc": [0.5, 0.52, 0.51, 0.01], "auc_ci_low": [0.42] * 4,
                            "accuracy": [0.4, 0.44, 0.42, 0.02],
                            "always_healthy_accuracy": [0.714] * 4,
                            "validation AUC": [0.58] * 4},
                           index=["seed 0", "seed 1", "mean", "std"])
    folds = pd.DataFrame({"fold": range(5), "n": [204] * 5,
                          "auc": [0.56, 0.62, 0.52, 0.59, 0.49]})
    study = {"blocked": {"folds": folds}}
    table = pd.DataFrame({"model fold AUC mean": [0.555]}, index=["blocked"])
    ids = [f"image_{n}.jpg" for n in AUDITED_MISSES] + [f"image_{4000 + i}.jpg"
                                                       for i in range(199)]
    lines = sentences.evaluation_findings(summary, {"test": {"auc": 0.496}}, table, study, 220,
                                          "LEAK", "texture", ids, synthetic)
    text = " ".join(lines)
    assert "ROC AUC is 0.510 ± 0.010" in text and "below the 71.4%" in text
    assert "fold 4, 204 of its 204) scores 0.490" in text and "do not tell" in text
    assert "(pressure" not in text and lines[-1] == "LEAK"
    assert ("clinical diagnoses" in text) != synthetic
    assert ("199 of 220 test discs" in text) != synthetic
    assert lines[0].startswith("SYNTHETIC") == synthetic


def _control_results() -> dict:
    from glaucoma_lib.study.control import NESTED

    rows = ["texture a", "texture b", NESTED]
    table = pd.DataFrame({"pooled AUC": [0.75, 0.7, 0.72],
                          "pooled 95% CI": ["0.70–0.80", "0.65–0.75", "0.67–0.77"]},
                         index=rows)
    curves = pd.DataFrame({
        "data set": ["A"] * 4 + ["G"] * 4, "training images": [120, 240, 360, 480] * 2,
        "AUC mean": [0.70, 0.76, 0.785, 0.787, 0.50, 0.52, 0.54, 0.57]})
    across = pd.DataFrame({"AUC": [0.55], "95% CI": ["0.50–0.60"], "images": [220]},
                          index=["A model on G"])
    return {"cv": {"A": {"table": table}, "G": {"table": table}}, "chosen": "texture a",
            "curves": curves, "curve_pipeline": "texture a", "across": across}


def test_control_findings_set_no_goal_and_say_where_the_learning_curve_flattens():
    lines = sentences.control_findings(_control_results(), "A", "G")
    text = " ".join(lines)
    assert "goal" not in text and " met" not in text
    assert ("Learning curve, A ('texture a'): AUC 0.700 with 120 training images, 0.787 with "
            "480; flat (within 0.01 of the last) from 360 images on.") in lines
    assert "0.570 with 480; it still moves by more than 0.01 over the last step." in text
    assert "selected on these same folds" in text


def test_leakage_text_warns_that_a_near_chance_model_gives_the_test_little_power():
    table = pd.DataFrame({"permutation seed": [0, 1, 2], "blocked fold AUC mean": 0.52,
                          "random fold AUC mean": [0.51, 0.53, 0.52]})
    table["gap (blocked - random)"] = table["blocked fold AUC mean"] - table["random fold AUC mean"]
    assert "little power" in sentences.leakage_text(table)
    table["blocked fold AUC mean"] = 0.8
    table["random fold AUC mean"] = [0.79, 0.81, 0.8]
    table["gap (blocked - random)"] = table["blocked fold AUC mean"] - table["random fold AUC mean"]
    assert "little power" not in sentences.leakage_text(table)


def test_validation_source_names_the_cross_validation_of_the_texture_model():
    assert "blocked 5-fold out-of-fold" in sentences.validation_source(DiscModelConfig())
    assert "last contiguous 20% block" in sentences.validation_source(TINY)
