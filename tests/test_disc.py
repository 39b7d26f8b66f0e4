"""Optic-disc localisation on drawn fundus-like images with a known disc position."""

import numpy as np
import pandas as pd
import pytest
from conftest import fundus
from PIL import Image, ImageDraw

from glaucoma_lib.data.loading import read_labels
from glaucoma_lib.models import disc


@pytest.mark.parametrize("xy", [(370, 250), (130, 300), (256, 140)])
def test_detector_finds_the_drawn_disc(xy):
    loc = disc.locate_disc(fundus(xy))
    assert np.hypot(loc.x - xy[0], loc.y - xy[1]) < 15
    assert 10 < loc.radius < 70
    assert 0 <= loc.confidence <= 1
    assert loc.source == "detector"


def test_glare_at_the_image_edge_is_not_taken_for_the_disc():
    """A field of view wider than the image (cut at its left and right edges, as on many
    EyePACS-AIROGS photographs) with a bright glare at the cut: outside the image counts as
    outside the field, so the glare at the border is not a disc candidate."""
    img = Image.new("RGB", (512, 512))
    d = ImageDraw.Draw(img)
    d.ellipse((-40, 10, 552, 502), fill=(200, 85, 30))
    d.ellipse((482, 180, 602, 330), fill=(255, 240, 220))
    x, y = 150, 250
    for angle in np.linspace(0, 2 * np.pi, 8, endpoint=False):
        d.line((x, y, x + 400 * np.cos(angle), y + 400 * np.sin(angle)), fill=(120, 30, 15),
               width=5)
    d.ellipse((x - 36, y - 36, x + 36, y + 36), fill=(250, 200, 120))
    loc = disc.locate_disc(np.asarray(img))
    assert np.hypot(loc.x - x, loc.y - y) < 15


def test_detection_scales_to_other_image_sizes():
    big = np.asarray(Image.fromarray(fundus((370, 250))).resize((1024, 768)))
    loc = disc.locate_disc(big)
    assert abs(loc.x - 740) < 30 and abs(loc.y - 375) < 25


def test_batch_detection_matches_single():
    images = [fundus((370, 250)), fundus((130, 300), seed=1)]
    batch = disc.locate_discs(images)
    assert [round(b.x) for b in batch] == [round(disc.locate_disc(i).x) for i in images]


def test_box_blur_is_a_window_mean_inside_the_image():
    a = np.random.default_rng(0).random((1, 9, 9)).astype(np.float32)
    out = disc.box_blur(a, 1)
    assert out.shape == a.shape
    assert out[0, 4, 4] == pytest.approx(a[0, 3:6, 3:6].mean(), rel=1e-5)


def test_dataset_masks_are_used_when_present(tmp_path):
    mask = np.zeros((512, 512), np.uint8)
    mask[90:111, 300:341] = 255  # centre (320, 100)
    (tmp_path / "Masks").mkdir()
    Image.fromarray(mask).save(tmp_path / "Masks" / "image_7.png")
    loc = disc.locate_disc(fundus((130, 300)), tmp_path, "image_7.jpg")
    assert loc.source == "mask"
    assert (loc.x, loc.y) == pytest.approx((320.5, 100.5))  # pixel centres
    fallback = disc.locate_disc(fundus((130, 300)), tmp_path, "image_8.jpg")
    assert fallback.source == "detector"


def test_non_square_mask_is_padded_like_the_square_images(tmp_path):
    mask = np.zeros((400, 600), np.uint8)  # full-resolution photo is wider than tall
    mask[190:211, 290:311] = 1  # centre (300, 200) -> square 600: (300, 300) -> 512: (256, 256)
    (tmp_path / "Masks").mkdir()
    Image.fromarray(mask).save(tmp_path / "Masks" / "image_1.png")
    loc = disc.locate_disc(fundus(), tmp_path, "image_1.jpg")
    assert (loc.x, loc.y) == pytest.approx((256, 256), abs=2)


def test_empty_mask_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        disc.location_from_mask(np.zeros((8, 8), np.uint8))


def test_crop_is_centred_on_the_disc_and_sized():
    img = fundus((370, 250))
    crop = disc.crop_disc(img, disc.DiscLocation(370, 250, 36, 1.0), crop_size=128, out_size=64)
    assert crop.shape == (3, 64, 64) and crop.dtype == np.uint8
    centre = crop[:, 28:36, 28:36].mean(axis=(1, 2))
    assert centre[1] > 150  # the pale disc, not the orange retina (green ~85)


def test_crop_outside_the_image_is_black():
    crop = disc.crop_disc(fundus(), disc.DiscLocation(0, 0, 30, 1.0), 128, 32)
    assert crop[:, :8, :8].max() == 0


def test_crop_sets_detect_once_and_match_single_loads(tmp_path, monkeypatch, private_cache):
    from glaucoma_lib.data import synthetic

    folder = synthetic.make_synthetic(tmp_path / "syn", n_images=6, image_side=128)
    ids = read_labels(folder)["imageID"].tolist()
    calls = []
    detect = disc.locate_discs
    monkeypatch.setattr(disc, "locate_discs", lambda images, *a: calls.append(len(images))
                        or detect(images, *a))
    sets = disc.load_disc_crop_sets(folder, ids, [(160, 16), (64, 8)])
    assert calls == [6]  # one detection pass for both sizes
    assert [x.shape for x, _ in sets] == [(6, 3, 16, 16), (6, 3, 8, 8)]
    for size, (x, table) in zip([(160, 16), (64, 8)], sets, strict=True):
        single, single_table = disc.load_disc_crops(folder, ids, *size)  # from the cache
        np.testing.assert_array_equal(single, x)
        pd.testing.assert_frame_equal(single_table, table)
    assert calls == [6]
    (fresh, fresh_table), = disc.load_disc_crop_sets(folder, ids, [(96, 8)])  # a new size:
    assert calls == [6] and fresh.shape == (6, 3, 8, 8)  # cut at the cached disc locations
    pd.testing.assert_frame_equal(fresh_table, sets[0][1])


def test_crop_sets_cut_a_repeated_size_once_and_return_it_in_every_place(
        tmp_path, monkeypatch, private_cache):
    from glaucoma_lib.data import synthetic

    folder = synthetic.make_synthetic(tmp_path / "syn", n_images=4, image_side=128)
    ids = read_labels(folder)["imageID"].tolist()
    cuts = []
    crop = disc.crop_disc
    monkeypatch.setattr(disc, "crop_disc", lambda *a: cuts.append(a[2:]) or crop(*a))
    sets = disc.load_disc_crop_sets(folder, ids, [(64, 8), (160, 16), (64, 8)])
    assert sorted(cuts) == [(64, 8)] * 4 + [(160, 16)] * 4  # each image cut once per size
    assert [x.shape for x, _ in sets] == [(4, 3, 8, 8), (4, 3, 16, 16), (4, 3, 8, 8)]
    assert sets[0][0] is sets[2][0]  # one array for the size asked twice, not two copies
