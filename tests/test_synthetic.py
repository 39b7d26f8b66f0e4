"""The embedded synthetic set: layout, determinism, class balance and the full loading path."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from glaucoma_lib.data import loading as data
from glaucoma_lib.data import split, synthetic

N = 60  # fewer than the default set's N_IMAGES (200): the same generator in under half the time


@pytest.fixture(scope="module")
def synthetic_set(tmp_path_factory):
    return synthetic.make_synthetic(tmp_path_factory.mktemp("synthetic") / "set", n_images=N)


pytestmark = pytest.mark.usefixtures("private_cache")


def test_layout_and_balance(synthetic_set):
    folder = synthetic_set
    labels = data.read_labels(folder)
    assert len(labels) == N
    # whole eyes (1-3 photographs each) are glaucomatous until G1020's share would be passed
    target = round(N * 296 / 1020)
    assert target - 3 < labels["binaryLabels"].sum() <= target
    numbers = [int(i[len("image_") : -len(".jpg")]) for i in labels["imageID"]]
    assert np.any(np.diff(numbers) > 1), "image numbers should have gaps, like G1020"
    assert data.is_synthetic(folder)
    with Image.open(folder / "Images_Square" / labels["imageID"][0]) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (512, 512))


def test_load_glaucoma_on_synthetic_set_splits_proportionally(synthetic_set):
    folder = synthetic_set
    (x_train, t_train, train_ids), (x_test, t_test, test_ids) = data.load_glaucoma(
        folder, return_ids=True
    )
    n_test = split.default_n_test(N)  # the original's 220 of 1020, scaled
    assert 0 < n_test < N // 2
    assert x_train.shape == (N - n_test, 3, 64, 64) and x_test.shape == (n_test, 3, 64, 64)
    by_id = pd.read_csv(folder / "G1020.csv").set_index("imageID")["binaryLabels"]
    np.testing.assert_array_equal(by_id[train_ids].to_numpy(), t_train)
    np.testing.assert_array_equal(by_id[test_ids].to_numpy(), t_test)
    assert x_train[:, 0].mean() > x_train[:, 2].mean(), "retina should be orange-red"


def test_glaucoma_images_have_larger_bright_cups(synthetic_set):
    """The class signal exists: the palest (cup) area is larger on average for glaucoma."""
    folder = synthetic_set
    (x, t), _ = data.load_glaucoma(folder, image_size=128)
    pale_area = (x[:, 2] > 0.6).sum(axis=(1, 2))
    assert pale_area[t == 1].mean() > pale_area[t == 0].mean()


def test_generation_is_deterministic(tmp_path):
    a = synthetic.make_synthetic(tmp_path / "a", n_images=6, image_side=64)
    b = synthetic.make_synthetic(tmp_path / "b", n_images=6, image_side=64)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 6 + 2
    for file in files:
        assert (a / file).read_bytes() == (b / file).read_bytes(), file


def test_ensure_synthetic_repairs_an_incomplete_set(tmp_path, monkeypatch):
    made = []
    real_make = synthetic.make_synthetic
    monkeypatch.setattr(
        synthetic, "make_synthetic", lambda f, n, s: made.append(f) or real_make(f, n, s, 64)
    )
    folder = synthetic.ensure_synthetic(tmp_path / "syn", n_images=5)
    synthetic.ensure_synthetic(folder, n_images=5)
    assert len(made) == 1, "a complete set is reused"
    first = sorted((folder / "Images_Square").iterdir())[0]
    first.unlink()
    synthetic.ensure_synthetic(folder, n_images=5)
    assert len(made) == 2 and first.is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temp folders left"
