"""Loading: label alignment by name, HWC->CHW, the faithful-bug options, finding data, the cache."""

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from glaucoma_lib import paths
from glaucoma_lib.data import datasets, synthetic
from glaucoma_lib.data import loading as data

G1020 = os.environ.get("GLAUCOMA_DATA")
needs_g1020 = pytest.mark.skipif(
    not (G1020 and (Path(G1020) / "G1020.csv").is_file()), reason="GLAUCOMA_DATA not set"
)
# Numbers chosen so that lexicographic and numeric order differ (image_10 before image_2).
NUMBERS = [0, 1, 2, 3, 10, 11, 12, 20, 21, 100, 101, 110, 200, 201]


pytestmark = pytest.mark.usefixtures("private_cache")


def colour_of(number: int, label: int) -> tuple[int, int, int]:
    """Each image's colour encodes its number (red) and its label (green)."""
    return (number % 256, 255 * label, 77)


def make_set(folder: Path, numbers=NUMBERS, seed=0) -> dict[str, int]:
    """A tiny data set, files created and CSV rows written in shuffled order."""
    rng = np.random.default_rng(seed)
    labels = {f"image_{n}.jpg": int(rng.integers(0, 2)) for n in numbers}
    (folder / "Images_Square").mkdir(parents=True)
    for name in rng.permutation(list(labels)):
        colour = colour_of(int(name[6:-4]), labels[name])
        Image.new("RGB", (16, 16), colour).save(folder / "Images_Square" / name, format="PNG")
    rows = pd.DataFrame({"imageID": list(labels), "binaryLabels": list(labels.values())}).sample(
        frac=1.0, random_state=seed
    )
    rows.to_csv(folder / "G1020.csv", index=False)
    return labels


def test_labels_follow_file_names_despite_shuffled_rows_and_files(tmp_path):
    labels = make_set(tmp_path)
    (x_train, t_train, ids_train), (x_test, t_test, ids_test) = data.load_glaucoma(
        tmp_path, image_size=4, normalize=False, return_ids=True
    )
    assert len(ids_train) + len(ids_test) == len(NUMBERS) and len(ids_test) == 3
    for x, t, ids in ((x_train, t_train, ids_train), (x_test, t_test, ids_test)):
        numbers = np.array([int(i[6:-4]) for i in ids])
        np.testing.assert_array_equal(t, [labels[i] for i in ids])
        np.testing.assert_array_equal(x[:, 0, 0, 0], numbers % 256)
        np.testing.assert_array_equal(x[:, 1, 0, 0], 255 * t)
    assert list(ids_test) == ["image_110.jpg", "image_200.jpg", "image_201.jpg"]


def test_output_types_and_options(tmp_path):
    make_set(tmp_path)
    (x, t), _ = data.load_glaucoma(tmp_path, image_size=8)
    assert x.dtype == np.float32 and x.shape == (11, 3, 8, 8) and 0 <= x.min() <= x.max() <= 1
    assert t.dtype == np.int64
    (x, t), _ = data.load_glaucoma(tmp_path, image_size=8, flatten=True, one_hot_label=True)
    assert x.shape == (11, 192) and t.shape == (11, 2) and t.dtype == np.float32
    np.testing.assert_array_equal(t.sum(axis=1), 1)
    with pytest.raises(ValueError, match="pairing"):
        data.load_glaucoma(tmp_path, pairing="csv")


def hand_made_image() -> np.ndarray:
    """(4, 4, 3) with a distinct value in every pixel and channel."""
    return (np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5).astype(np.uint8)


def test_hwc_to_chw_is_a_transpose_and_hwc_reshape_scrambles(tmp_path):
    (tmp_path / "Images_Square").mkdir()
    pixels = hand_made_image()
    for n in (1, 2, 3):  # three: the fewest a train/test split allows
        Image.fromarray(pixels).save(tmp_path / "Images_Square" / f"image_{n}.jpg", format="PNG")
    (tmp_path / "G1020.csv").write_text(
        "imageID,binaryLabels\nimage_1.jpg,0\nimage_2.jpg,1\nimage_3.jpg,0\n")
    (x, _), _ = data.load_glaucoma(tmp_path, image_size=4, normalize=False)
    np.testing.assert_array_equal(x[0], pixels.transpose(2, 0, 1))
    np.testing.assert_array_equal(x[0, 0], pixels[:, :, 0])
    (wrong, _), _ = data.load_glaucoma(
        tmp_path, image_size=4, normalize=False, channel_order="hwc_reshape"
    )
    np.testing.assert_array_equal(wrong[0], pixels.reshape(3, 4, 4))
    assert not np.array_equal(wrong[0], x[0])


def test_listing_order_pairs_lexicographic_images_with_numeric_labels(tmp_path):
    labels = make_set(tmp_path)
    (x, t, ids), _ = data.load_glaucoma(
        tmp_path, image_size=4, normalize=False, pairing="listing_order", return_ids=True
    )
    train_by_number = [f"image_{n}.jpg" for n in NUMBERS[:11]]
    assert list(ids) == sorted(train_by_number)
    np.testing.assert_array_equal(t, [labels[i] for i in train_by_number])
    np.testing.assert_array_equal(x[:, 0, 0, 0], [int(i[6:-4]) % 256 for i in ids])
    wrong = x[:, 1, 0, 0] != 255 * t
    assert wrong.any(), "positional pairing must give some images another image's label"


def test_resolve_data_dir_order_and_message(tmp_path, monkeypatch):
    explicit, from_env, default = (tmp_path / name for name in ("explicit", "env", "data/G1020"))
    for folder in (explicit, from_env, default):
        make_set(folder, numbers=[1, 2])
    monkeypatch.setattr(datasets, "DATA_DIR", default.parent)
    monkeypatch.setenv("GLAUCOMA_DATA", str(from_env))
    assert data.resolve_data_dir(explicit) == explicit.resolve()
    assert data.resolve_data_dir() == from_env.resolve()
    monkeypatch.delenv("GLAUCOMA_DATA")
    assert data.resolve_data_dir() == default.resolve()
    kaggle_root = tmp_path / "kaggle"
    make_set(kaggle_root / "G1020", numbers=[1, 2])
    assert data.resolve_data_dir(kaggle_root) == (kaggle_root / "G1020").resolve()

    monkeypatch.setattr(datasets, "DATA_DIR", tmp_path / "nowhere")
    with pytest.raises(data.DataNotFoundError) as error:
        data.resolve_data_dir()
    message = str(error.value)
    for expected in ("GLAUCOMA_DATA", "nowhere", "glaucoma-datasets", "2006.09158", "synthetic"):
        assert expected in message
    monkeypatch.setenv("GLAUCOMA_DATA", str(tmp_path / "wrong"))
    with pytest.raises(data.DataNotFoundError, match="wrong"):
        data.resolve_data_dir()


def test_find_data_dir_falls_back_to_synthetic_loudly(tmp_path, monkeypatch):
    monkeypatch.delenv("GLAUCOMA_DATA", raising=False)
    monkeypatch.setattr(datasets, "DATA_DIR", tmp_path / "nowhere")
    small = synthetic.make_synthetic(tmp_path / "syn", n_images=4, image_side=32)
    monkeypatch.setattr(synthetic, "ensure_synthetic", lambda: small)
    with pytest.warns(data.SyntheticDataWarning, match="SYNTHETIC"):
        folder, is_synthetic = data.find_data_dir()
    assert (folder, is_synthetic) == (small, True)
    with pytest.raises(data.DataNotFoundError):
        data.find_data_dir(tmp_path / "typo")
    real = tmp_path / "real"
    make_set(real, numbers=[1, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert data.find_data_dir(real) == (real.resolve(), False)


def test_warm_load_uses_the_cache_and_a_changed_file_invalidates_it(tmp_path, monkeypatch,
                                                                   private_cache):
    labels = make_set(tmp_path)
    first = data.load_glaucoma(tmp_path, image_size=4, normalize=False)
    assert len(list(private_cache.glob("*.npz"))) == 1

    def no_decoding(*args):
        raise AssertionError("decoded although cached")

    with monkeypatch.context() as patch:
        patch.setattr(data, "read_resized", no_decoding)
        again = data.load_glaucoma(tmp_path, image_size=4, normalize=False)
    np.testing.assert_array_equal(first[0][0], again[0][0])

    changed = tmp_path / "Images_Square" / "image_0.jpg"
    Image.new("RGB", (16, 16), (9, 9, 9)).save(changed, format="PNG")
    os.utime(changed, ns=(1, 1))
    (x, _), _ = data.load_glaucoma(tmp_path, image_size=4, normalize=False)
    assert x[0, 0, 0, 0] == 9 and labels["image_0.jpg"] in (0, 1)
    assert len(list(private_cache.glob("*.npz"))) == 2


def test_a_corrupt_cache_file_is_rebuilt(tmp_path, private_cache):
    make_set(tmp_path)
    expected = data.load_glaucoma(tmp_path, image_size=4)[0][0]
    (cached,) = private_cache.glob("*.npz")
    cached.write_bytes(b"not an npz")
    np.testing.assert_array_equal(data.load_glaucoma(tmp_path, image_size=4)[0][0], expected)


def test_data_checksum_changes_with_the_data(tmp_path):
    make_set(tmp_path)
    before = data.data_checksum(tmp_path)
    assert before == data.data_checksum(tmp_path) and len(before) == 64
    (tmp_path / "Images_Square" / "image_0.jpg").write_bytes(b"x")
    assert data.data_checksum(tmp_path) != before


@needs_g1020
def test_g1020_loads_800_220_with_labels_matching_by_name():
    (x_train, t_train, train_ids), (x_test, t_test, test_ids) = data.load_glaucoma(
        G1020, return_ids=True
    )
    assert x_train.shape == (800, 3, 64, 64) and x_test.shape == (220, 3, 64, 64)
    by_id = pd.read_csv(Path(G1020) / "G1020.csv").set_index("imageID")["binaryLabels"]
    np.testing.assert_array_equal(by_id[train_ids].to_numpy(), t_train)
    np.testing.assert_array_equal(by_id[test_ids].to_numpy(), t_test)
    assert (t_train.sum(), t_test.sum()) == (233, 63)
    assert not data.is_synthetic(G1020)


def test_inventory_and_pixel_statistics(tmp_path):
    make_set(tmp_path)
    inventory = data.image_inventory(tmp_path)
    assert len(inventory) == len(NUMBERS)
    assert set(inventory["mode"]) == {"RGB"} and set(inventory["width"]) == {16}
    images = np.zeros((4, 3, 2, 2), dtype=np.float32)
    images[:2, 0] = 1.0
    stats = data.pixel_statistics(images, np.array([1, 1, 0, 0]))
    assert stats.loc["glaucoma", "R_mean"] == 1.0 and stats.loc["healthy", "R_mean"] == 0.0
    assert stats.loc["all", "images"] == 4
    assert paths.splits_dir(True) == paths.SPLITS_DIR / "synthetic"


def make_airogs(folder, names_labels, corrupt=()):
    """An EyePACS-AIROGS-light layout: images/ + labels.csv (image,label), colour = label."""
    (folder / "images").mkdir(parents=True)
    rows = ["image,label"]
    for name, label in names_labels:
        path = folder / "images" / name
        if name in corrupt:
            path.write_bytes(b"\xff\xd8 not really a jpeg")
        else:
            Image.new("RGB", (16, 16), (10, 200 * label, 30)).save(path, format="PNG")
        rows.append(f"{name},{label}")
    (folder / "labels.csv").write_text("\n".join(rows[:1] + rows[1:][::-1]) + "\n")
    return folder


def test_airogs_is_one_description_paired_by_name_and_skips_a_corrupt_image(tmp_path):
    pairs = [("EyePACS-TRAIN-NRG-12.jpg", 0), ("EyePACS-TRAIN-RG-3.jpg", 1),
             ("EyePACS-TRAIN-RG-40.jpg", 1), ("EyePACS-TRAIN-NRG-7.jpg", 0)]
    folder = make_airogs(tmp_path / "airogs", pairs, corrupt={"EyePACS-TRAIN-RG-40.jpg"})
    assert datasets.dataset_of(folder) is datasets.AIROGS
    with pytest.warns(UserWarning, match=r"skipped: .*EyePACS-TRAIN-RG-40\.jpg"):
        x, t, ids = data.load_labelled(folder, image_size=4)
    assert ids == ["EyePACS-TRAIN-RG-3.jpg", "EyePACS-TRAIN-NRG-7.jpg", "EyePACS-TRAIN-NRG-12.jpg"]
    np.testing.assert_array_equal(t, [1, 0, 0])
    np.testing.assert_array_equal(x[:, 1, 0, 0] > 100, t == 1)  # each image has its own label
    assert "EyePACS-AIROGS-light, 4 images" in data.describe_data(folder)


def test_airogs_is_found_by_parameter_then_environment_then_data_folder(tmp_path, monkeypatch):
    pairs = [("EyePACS-TRAIN-RG-1.jpg", 1), ("EyePACS-TRAIN-NRG-2.jpg", 0)]
    explicit = make_airogs(tmp_path / "explicit", pairs)
    from_env = make_airogs(tmp_path / "env", pairs)
    default = make_airogs(tmp_path / "data" / "EyePACS-AIROGS-light", pairs)
    monkeypatch.setattr(datasets, "DATA_DIR", tmp_path / "data")
    monkeypatch.setenv("AIROGS_DATA", str(from_env))
    assert data.find_optional(datasets.AIROGS, explicit) == explicit.resolve()
    assert data.find_optional(datasets.AIROGS) == from_env.resolve()
    monkeypatch.delenv("AIROGS_DATA")
    assert data.find_optional(datasets.AIROGS) == default.resolve()
    monkeypatch.setattr(datasets, "DATA_DIR", tmp_path / "nowhere")
    assert data.find_optional(datasets.AIROGS) is None
    monkeypatch.setenv("AIROGS_DATA", str(tmp_path / "wrong"))
    with pytest.raises(data.DataNotFoundError, match="AIROGS_DATA.*wrong"):
        data.find_optional(datasets.AIROGS)
