"""The original 800/220 split, validation blocks and the positional-pairing bug counter."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glaucoma_lib.data import split
from glaucoma_lib.data.loading import read_labels
from glaucoma_lib.data.patients import neighbour_same_patient
from glaucoma_lib.study import sentences

G1020 = os.environ.get("GLAUCOMA_DATA")
needs_g1020 = pytest.mark.skipif(
    not (G1020 and (Path(G1020) / "G1020.csv").is_file()), reason="GLAUCOMA_DATA not set"
)


def test_image_number_and_numeric_sort():
    assert split.image_number("image_2563.jpg") == 2563
    assert split.sort_by_image_number(["image_10.jpg", "image_2.jpg", "image_1.jpg"]) == [
        "image_1.jpg",
        "image_2.jpg",
        "image_10.jpg",
    ]
    with pytest.raises(ValueError, match="no image number"):
        split.image_number("image.jpg")


def test_original_split_takes_the_last_images_by_number():
    ids = [f"image_{n}.jpg" for n in np.random.default_rng(0).permutation(1020)]
    train, test = split.original_split(ids)
    assert (len(train), len(test)) == (800, 220)
    assert test == [f"image_{n}.jpg" for n in range(800, 1020)]
    assert split.default_n_test(200) == 43
    with pytest.raises(ValueError):
        split.original_split(ids[:5], n_test=6)


def test_write_split_csvs_in_original_format(tmp_path):
    labels = pd.DataFrame(
        {"imageID": [f"image_{n}.jpg" for n in range(20, 0, -1)], "binaryLabels": [0, 1] * 10}
    )
    train_csv, test_csv = split.write_split_csvs(labels, tmp_path / "splits")
    assert train_csv.read_text().splitlines()[:3] == [
        "imageID,binaryLabels",
        "image_1.jpg,1",
        "image_2.jpg,0",
    ]
    test_rows = pd.read_csv(test_csv)
    assert test_rows["imageID"].tolist() == [f"image_{n}.jpg" for n in (17, 18, 19, 20)]
    assert sorted(p.name for p in (tmp_path / "splits").iterdir()) == [
        "test_label.csv",
        "train_label.csv",
    ]


def test_validation_block_is_the_last_contiguous_block():
    train_idx, val_idx = split.validation_block(800, 0.2)
    np.testing.assert_array_equal(val_idx, np.arange(640, 800))
    np.testing.assert_array_equal(train_idx, np.arange(640))


@pytest.mark.parametrize("folds_of", [split.blocked_folds, split.random_folds])
def test_folds_partition_the_indices(folds_of):
    folds = folds_of(103, k=5)
    assert len(folds) == 5
    all_val = np.concatenate([val for _, val in folds])
    np.testing.assert_array_equal(np.sort(all_val), np.arange(103))
    for train_idx, val_idx in folds:
        assert np.intersect1d(train_idx, val_idx).size == 0
        assert train_idx.size + val_idx.size == 103


def test_blocked_folds_are_contiguous_and_random_folds_are_not():
    for _, val_idx in split.blocked_folds(100, k=4):
        assert np.all(np.diff(val_idx) == 1)
    random = split.random_folds(100, k=4, seed=3)
    assert any(np.any(np.diff(val_idx) > 1) for _, val_idx in random)
    again = split.random_folds(100, k=4, seed=3)
    for (_, a), (_, b) in zip(random, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_count_mislabelled_pairs_by_position():
    labels = {"image_1.jpg": 0, "image_2.jpg": 1, "image_10.jpg": 0}
    by_number = split.sort_by_image_number(labels)
    lexicographic = sorted(labels)
    count = split.count_mislabelled(by_number, lexicographic, labels)
    assert count == split.MislabelCount(n_images=3, n_other_image_label=2, n_wrong_class=2)
    assert split.count_mislabelled(by_number, by_number, labels).n_other_image_label == 0


def test_directory_listing_orders(tmp_path):
    for name in ("image_2.jpg", "image_10.jpg", "image_1.jpg", "notes.txt"):
        (tmp_path / name).touch()
    ids = ["image_1.jpg", "image_2.jpg", "image_10.jpg"]
    assert split.directory_listing(tmp_path, ids) == ["image_1.jpg", "image_10.jpg", "image_2.jpg"]
    assert sorted(split.directory_listing(tmp_path, ids, raw=True)) == sorted(ids)


@needs_g1020
def test_g1020_split_membership_and_counts():
    labels = read_labels(G1020)
    train, test = split.original_split(labels["imageID"])
    by_id = labels.set_index("imageID")["binaryLabels"]
    assert (len(train), len(test)) == (800, 220)
    assert (test[0], test[-1]) == ("image_2563.jpg", "image_3202.jpg")
    assert by_id[test].sum() == 63
    assert by_id[train].sum() == 233


def test_split_summary_and_mislabel_table(tmp_path):
    ids = [f"image_{n}.jpg" for n in (1, 2, 3, 10, 11)]
    labels = pd.DataFrame({"imageID": ids, "binaryLabels": [0, 1, 0, 1, 1]})
    summary = split.split_summary(labels, n_test=2)
    assert summary.loc["test", ["images", "glaucoma", "first", "last"]].tolist() == [
        2,
        2,
        "image_10.jpg",
        "image_11.jpg",
    ]
    for name in ids:
        (tmp_path / name).touch()
    table = split.mislabel_table(tmp_path, ids, dict(zip(ids, [0, 1, 0, 1, 1], strict=True)))
    assert table["n_other_image_label"].tolist()[1:] == [4, 0]
    assert table["n_wrong_class"].iloc[2] == 0


def test_neighbour_similarity_sees_repeated_images():
    rng = np.random.default_rng(0)
    distinct = rng.random((20, 3, 8, 8)).astype(np.float32)
    repeated = np.repeat(distinct, 2, axis=0)
    labels = np.repeat(rng.integers(0, 2, 20), 2)
    table = split.neighbour_similarity(repeated, labels, n_random=500)
    means = table.groupby("pair")[["correlation", "same_label"]].mean()
    assert means.loc["neighbours", "correlation"] > means.loc["random", "correlation"] + 0.3
    assert means.loc["neighbours", "same_label"] > means.loc["random", "same_label"]


def test_neighbour_evidence_text_says_what_the_numbers_show_and_not():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "pair": ["neighbours"] * 200 + ["random"] * 200,
        "correlation": np.r_[rng.normal(0.133, 0.05, 200), rng.normal(0.130, 0.05, 200)],
        "same_label": np.r_[np.arange(200) % 10 < 8, np.arange(200) % 10 < 6]})
    text = sentences.neighbour_evidence_text(frame)
    assert "share a label 80% of the time, random pairs 60%" in text
    assert "no more alike than random pairs" in text and "not a finding" in text
    frame.loc[:199, "correlation"] += 0.3
    assert "do look more alike" in sentences.neighbour_evidence_text(frame)


def test_neighbour_evidence_states_the_patients_when_the_release_names_them():
    """With patient identifiers the text states their count and no longer calls it a guess."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"pair": ["neighbours"] * 200 + ["random"] * 200,
                          "correlation": rng.normal(0.13, 0.05, 400),
                          "same_label": np.arange(400) % 10 < 7})
    text = sentences.neighbour_evidence_text(frame, (462, 799))
    assert "462 of the 799 neighbouring pairs (58%) are the same patient" in text
    assert "not a finding" not in text and "pixel correlation does not see it" in text


def test_neighbour_same_patient_counts_adjacent_pairs():
    assert neighbour_same_patient(np.array(["a", "a", "b", "a", "c", "c", "c"])) == (3, 6)
    assert neighbour_same_patient(np.array(["a"])) == (0, 0)


def test_split_balance_text_reads_the_summary():
    labels = pd.DataFrame({"imageID": [f"image_{i}.jpg" for i in range(10)],
                           "binaryLabels": [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]})
    text = sentences.split_balance_text(split.split_summary(labels, n_test=2))
    assert text == ("The test set is image_8.jpg … image_9.jpg with 1 glaucoma images of 2 "
                    "(50.0%); the training set has 1 of 8 (12.5%).")
