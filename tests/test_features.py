"""Random-kernel texture features: shapes, determinism, exposure invariance, clear errors."""

import numpy as np
import pytest

from glaucoma_lib.models.features import RandomKernelFeatures, pooled_responses


def crops(n=6, side=20, seed=0):
    return np.random.default_rng(seed).random((n, 3, side, side)).astype(np.float32)


def test_shape_names_and_determinism():
    f = RandomKernelFeatures(n_kernels=12)
    x = crops()
    a = f(x)
    assert a.shape == (6, 36) and a.dtype == np.float32 and np.isfinite(a).all()
    assert len(f.names) == 36
    np.testing.assert_array_equal(a, RandomKernelFeatures(n_kernels=12)(x))
    assert not np.allclose(a, RandomKernelFeatures(n_kernels=12, seed=1)(x))


def test_chunking_does_not_change_the_result():
    f = RandomKernelFeatures(n_kernels=10)
    x = crops(n=7)
    np.testing.assert_allclose(pooled_responses(x, *f.kernels(), chunk=2), f(x), rtol=1e-5,
                               atol=1e-5)


def test_exposure_changes_are_normalised_away():
    """Per-image, per-channel standardisation: a brighter or lower-contrast photograph of the
    same disc gives (nearly) the same features."""
    f = RandomKernelFeatures(n_kernels=10)
    x = crops() * 0.5
    np.testing.assert_allclose(f(x + 0.1), f(x), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(f(x * 0.8), f(x), rtol=0.03, atol=0.03)


def test_features_tell_textures_apart():
    f = RandomKernelFeatures(n_kernels=20)
    rng = np.random.default_rng(0)
    stripes = np.tile((np.arange(20) % 4 < 2).astype(np.float32), (4, 3, 20, 1))
    noise = rng.random((4, 3, 20, 20)).astype(np.float32)
    a, b = f(stripes + 0.01 * noise), f(noise)
    assert np.abs(a.mean(0) - b.mean(0)).max() > 0.1


def test_bad_shapes_are_refused():
    f = RandomKernelFeatures(n_kernels=4)
    with pytest.raises(ValueError, match="N, 3, H, W"):
        f(np.zeros((2, 20, 20), np.float32))
    with pytest.raises(ValueError, match="smaller than a dilated kernel"):
        f(np.zeros((2, 3, 8, 8), np.float32))
