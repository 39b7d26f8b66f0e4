"""Augmentation: shapes, ranges, determinism, and that each transform does what it says."""

import numpy as np

from glaucoma_lib.data.augment import Augmenter, bilinear_sample

OFF = dict(flip=False, max_rotation_deg=0, max_shift=0, brightness=0, contrast=0, color=0)


def batch(n=6, side=16, seed=0):
    return np.random.default_rng(seed).random((n, 3, side, side)).astype(np.float32)


def test_output_shape_dtype_range_and_input_untouched():
    x = batch()
    copy = x.copy()
    out = Augmenter()(x, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(x, copy)


def test_same_seed_same_result_different_seed_differs():
    x = batch()
    a = Augmenter()(x, np.random.default_rng(1))
    b = Augmenter()(x, np.random.default_rng(1))
    c = Augmenter()(x, np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_all_off_is_identity():
    x = batch()
    np.testing.assert_allclose(Augmenter(**OFF)(x, np.random.default_rng(0)), x, atol=1e-6)


def test_flip_only_mirrors_some_images_exactly():
    x = batch(n=32)
    out = Augmenter(**{**OFF, "flip": True})(x, np.random.default_rng(0))
    mirrored = np.isclose(out, x[..., ::-1], atol=1e-6).all(axis=(1, 2, 3))
    same = np.isclose(out, x, atol=1e-6).all(axis=(1, 2, 3))
    assert (mirrored | same).all() and 5 < mirrored.sum() < 27


def test_brightness_shifts_the_mean():
    x = np.full((64, 3, 8, 8), 0.5, np.float32)
    out = Augmenter(**{**OFF, "brightness": 0.2})(x, np.random.default_rng(0))
    means = out.mean(axis=(1, 2, 3))
    assert np.abs(means - 0.5).max() <= 0.2 + 1e-6 and means.std() > 0.05


def test_bilinear_sample_at_integer_coordinates_is_exact():
    x = batch(n=2, side=5)
    yy, xx = np.mgrid[0:5, 0:5].astype(np.float32)
    src_y = np.stack([yy, yy.T])
    src_x = np.stack([xx, xx.T])
    out = bilinear_sample(x, src_y, src_x)
    np.testing.assert_allclose(out[0], x[0], atol=1e-6)
    np.testing.assert_allclose(out[1], x[1].transpose(0, 2, 1), atol=1e-6)
