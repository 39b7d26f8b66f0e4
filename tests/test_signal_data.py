"""Patients, grouped folds, clustered intervals, outlines, off-disc crops and image statistics:
the pieces of the where-is-the-signal study."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glaucoma_lib import metrics
from glaucoma_lib.data import split
from glaucoma_lib.data.annotations import read_annotations, vcdr_score
from glaucoma_lib.data.datasets import AIROGS, G1020, HYGD, DataError, dataset_of
from glaucoma_lib.data.patients import patient_ids
from glaucoma_lib.models.disc import DiscLocation
from glaucoma_lib.models.image_stats import image_statistics
from glaucoma_lib.models.regions import clears_disc, off_disc_location


def _labels(folder: Path, header: str, rows: list[str], name: str = "labels.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(header + "\n" + "\n".join(rows) + "\n")
    return folder


def test_hygd_and_airogs_folders_are_told_apart_by_the_patient_column(tmp_path):
    hygd = _labels(tmp_path / "h", "image,label,patient,quality", ["0_0.jpg,1,0,5.0"])
    airogs = _labels(tmp_path / "a", "image,label", ["EyePACS-RG-1.jpg,1"])
    assert dataset_of(hygd) is HYGD
    assert dataset_of(airogs) is AIROGS


def test_patients_are_matched_by_file_name_not_by_row_order(tmp_path):
    folder = _labels(tmp_path, "image,label,patient,quality",
                     ["3_0.jpg,0,3,1", "1_0.jpg,1,1,1", "1_1.jpg,1,1,2"])
    assert patient_ids(folder, ["1_1.jpg", "3_0.jpg", "1_0.jpg"]).tolist() == ["1", "3", "1"]


def test_g1020_patients_come_from_their_own_file_and_a_missing_image_is_named(tmp_path):
    folder = _labels(tmp_path, "imageID,binaryLabels", ["image_1.jpg,0", "image_2.jpg,1"],
                     G1020.labels_file)
    assert patient_ids(folder, ["image_1.jpg"]) is None  # no patients file: none published
    (folder / G1020.patients_file).write_text("imageID,patientID\nimage_1.jpg,p1\n")
    assert patient_ids(folder, ["image_1.jpg"]).tolist() == ["p1"]
    with pytest.raises(DataError, match=r"G1020_patients.csv: no patient for 1 image.*image_2"):
        patient_ids(folder, ["image_1.jpg", "image_2.jpg"])


def test_grouped_folds_keep_patients_whole_and_spread_each_class():
    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 8, size=120)
    patients = np.repeat(np.arange(120), sizes)
    t = np.repeat(rng.random(120) < 0.3, sizes).astype(int)
    folds = split.grouped_stratified_folds(t, patients, 5, seed=0)
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(len(t)))
    for tr, te in folds:
        assert not set(patients[tr]) & set(patients[te])
        assert abs(t[te].sum() - t.sum() / 5) <= sizes.max()
    assert [te.tolist() for _, te in folds] == [
        te.tolist() for _, te in split.grouped_stratified_folds(t, patients, 5, seed=0)]


def test_grouped_folds_refuse_a_patient_with_both_labels():
    with pytest.raises(ValueError, match="group 'b' has images of both classes"):
        split.grouped_stratified_folds(np.array([0, 0, 1, 1, 0, 1]),
                                       np.array(["a", "a", "b", "b", "b", "c"]), 2)


def test_clustered_interval_is_wider_when_images_repeat_a_patient():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(40), np.ones(40)].astype(int)
    score = y + rng.normal(0, 1.5, 80)
    copies = 5
    y5, s5, g5 = np.repeat(y, copies), np.repeat(score, copies), np.repeat(np.arange(80), copies)
    naive = metrics.bootstrap_ci(y5, s5, seed=0)
    clustered = metrics.cluster_bootstrap_ci(y5, s5, g5, seed=0)
    assert clustered[0] == pytest.approx(naive[0])
    assert clustered[2] - clustered[1] > 1.8 * (naive[2] - naive[1])


def test_vertical_cup_to_disc_ratio_and_images_without_a_cup(tmp_path):
    (tmp_path / "annotations.csv").write_text(
        "imageID,disc_top,disc_bottom,cup_top,cup_bottom\n"
        "image_1.jpg,100,300,150,250\nimage_2.jpg,0,400,,\n")
    table = read_annotations(tmp_path)
    ids = ["image_1.jpg", "image_2.jpg", "image_3.jpg"]
    assert np.allclose(vcdr_score(table, ids), [0.5, 0.0, np.nan], equal_nan=True)
    assert np.allclose(vcdr_score(table, ids, no_cup=None), [0.5, np.nan, np.nan], equal_nan=True)


def test_an_outline_whose_cup_is_larger_than_its_disc_is_refused(tmp_path):
    (tmp_path / "annotations.csv").write_text(
        "imageID,disc_top,disc_bottom,cup_top,cup_bottom\nimage_9.jpg,100,200,50,260\n")
    with pytest.raises(DataError, match="annotations.csv: image image_9.jpg"):
        read_annotations(tmp_path)


@pytest.mark.parametrize("x", [60.0, 130.0, 250.0, 300.0, 450.0])
def test_the_off_disc_crop_never_touches_the_disc(x):
    disc = DiscLocation(x, 256.0, 40.0, 1.0)
    centre = off_disc_location(disc, 512, 512, 112)
    assert clears_disc(disc, centre, 112, 512)
    assert 56 <= centre.x <= 512 - 56


def test_image_statistics_see_colour_and_sharpness():
    rng = np.random.default_rng(0)
    sharp = rng.integers(60, 200, size=(1, 3, 32, 32)).astype(np.uint8)
    flat = np.full((1, 3, 32, 32), 130, np.uint8)
    stats = pd.DataFrame(image_statistics(np.concatenate([sharp, flat])),
                         columns=["mR", "mG", "mB", "sR", "sG", "sB", "bright", "sharp", "fov"])
    assert stats.loc[0, "sharp"] > 0.1 and stats.loc[1, "sharp"] < 1e-6
    assert stats.loc[1, "mR"] == pytest.approx(130 / 255, abs=1e-6)
    assert stats.loc[1, "fov"] == 1.0


def test_label_sensitivity_sets_each_doubtful_group_aside(tmp_path):
    _labels(tmp_path, "imageID,binaryLabels",
            [f"image_{i}.jpg,{int(i >= 6)}" for i in range(10)], G1020.labels_file)
    notes = ["glaucoma ruled out"] * 4 + ["glaucoma ruled out despite cupped disc"] * 2 + [
        "glaucoma named"] * 4
    detailed = ["0a", "0c", "0a", "0b", "0a", "0a", "1a", "1a", "1a", "1a"]
    rows = [f"image_{i}.jpg,p{i // 2},Left,{d},{int(i >= 6)},{n}"
            for i, (d, n) in enumerate(zip(detailed, notes, strict=True))]
    _labels(tmp_path, "imageID,patientID,eye,detailedLabels,binaryLabels,diagnosis_note", rows,
            G1020.patients_file)
    from glaucoma_lib.study.clinical import label_sensitivity
    ids = [f"image_{i}.jpg" for i in range(10)]
    t = np.array([int(i >= 6) for i in range(10)])
    table = label_sensitivity(tmp_path, ids, t, None, {"m": np.arange(10.0)}).set_index(
        "set aside")
    assert table.loc["none", "images left"] == 10
    assert table.loc["glaucoma suspects (detailed label 0c)", "images left"] == 9
    assert table.loc["former glaucoma (detailed label 0b)", "images left"] == 9
    assert table.loc["glaucoma ruled out despite a cupped disc", "images left"] == 8
    assert table.loc["all three", "images left"] == 6


def test_across_table_scores_each_model_on_every_other_data_set_only():
    from glaucoma_lib.study.across import across_table
    from glaucoma_lib.study.signal import SignalData, subset
    t = np.r_[np.zeros(20), np.ones(20)].astype(int)
    sets = {n: SignalData(n, Path("."), [f"{n}_{i}.jpg" for i in range(40)], t,
                          np.repeat(np.arange(20), 2), [], None) for n in ("A", "B", "C")}
    models = {("perfect", "A"): lambda d: d.t.astype(float),
              ("inverted", "B"): lambda d: 1.0 - d.t}
    table = across_table(models, sets)
    assert list(zip(table["trained on"], table["scored on"], strict=True)) == [
        ("A", "B"), ("A", "C"), ("B", "A"), ("B", "C")]
    assert (table.loc[table["model"] == "perfect", "AUC"] == 1.0).all()
    assert (table.loc[table["model"] == "inverted", "AUC"] == 0.0).all()
    part = subset(sets["A"], np.arange(20, 40), "A test")
    assert part.ids[0] == "A_20.jpg" and part.t.tolist() == [1] * 20 and part.folds == []


def _signal_record(rows):
    return {"metrics": {"signal": [
        {"data set": d, "model and input": m, "AUC": a, "low": lo, "high": hi}
        for d, m, a, lo, hi in rows], "vcdr": [], "labels": [], "across": []}}


def test_the_words_follow_the_intervals():
    """Disc above both controls: 'looks at the disc'; an interval containing 0.5: 'chance';
    statistics as good as the disc crop: the score is not credited to the disc."""
    from glaucoma_lib.study.sentences import where_sentences
    rows = [("A", "CNN, disc crop", 0.87, 0.84, 0.90),
            ("A", "CNN, off-disc crop", 0.58, 0.53, 0.63),
            ("A", "image statistics (no disc)", 0.55, 0.50, 0.60),
            ("G", "CNN, disc crop", 0.48, 0.44, 0.53),
            ("G", "image statistics (no disc)", 0.53, 0.49, 0.57),
            ("H", "CNN, disc crop", 0.87, 0.84, 0.90),
            ("H", "image statistics (no disc)", 0.81, 0.77, 0.85)]
    record = _signal_record(rows)
    table = pd.DataFrame(record["metrics"]["signal"])
    lines = where_sentences(table, "CNN")
    assert "it looks at the disc" in lines[0]
    assert "contains 0.5" in lines[1]
    assert "cannot be credited to the disc" in lines[2] and "0.810" in lines[2]


def test_the_papers_signal_table_shows_a_dash_where_a_row_did_not_run():
    from glaucoma_lib.study.paper_values import signal_table, signal_values
    rows = [("EyePACS-AIROGS-light", "CNN, disc crop", 0.87, 0.84, 0.90),
            ("EyePACS-AIROGS-light", "CNN, off-disc crop", 0.58, 0.53, 0.63),
            ("G1020", "CNN, disc crop", 0.48, 0.44, 0.53)]
    record = _signal_record(rows)
    record["config"] = {"cnn": {"epochs": 20}}
    values = signal_values(record)
    assert values["signal"]["airogs"]["cnn_disc"] == {"value": 0.87, "low": 0.84, "high": 0.90}
    table = signal_table(values)
    assert table["columns"] == ["Model and input", "AIROGS-light", "G1020"]
    by_row = {r[0]: r[1:] for r in table["rows"]}
    assert by_row["CNN, off-disc crop"] == ["0.580 (0.530–0.630)", "–"]
    assert by_row["CNN, disc crop"][0] == "0.870 (0.840–0.900)"
    assert signal_values(None) == {}
