"""Improved pipeline pieces: features, the pickle-free linear scorer, schedule, fit/save/load."""

import numpy as np
import pandas as pd
import pytest

from glaucoma_lib import improved

TINY = improved.ImprovedConfig(input_size=16, channels=(4, 4), hidden_size=8, epochs=2,
                               batch_size=16, scorer="cnn", texture_kernels=12)


def disc_data(n=60, side=16, seed=0) -> improved.DiscData:
    """Crops whose centre brightness carries the label, so a model can learn something."""
    rng = np.random.default_rng(seed)
    t = (np.arange(n) % 3 == 0).astype(np.int64)
    x = rng.random((n, 3, side, side)).astype(np.float32) * 0.5
    x[:, :, side // 2 - 3: side // 2 + 3, side // 2 - 3: side // 2 + 3] += 0.4 * t[:, None, None,
                                                                               None]
    locs = pd.DataFrame({"imageID": [f"image_{i}.jpg" for i in range(n)], "x": 100.0, "y": 100.0,
                         "radius": 30.0, "confidence": 0.9, "source": "detector"})
    return improved.DiscData(x, t, list(locs["imageID"]), locs)


def test_features_have_names_and_are_finite():
    d = disc_data()
    f = improved.disc_features(d.x, d.locations)
    assert f.shape == (len(d.t), len(improved.FEATURE_NAMES))
    assert np.isfinite(f).all()


def test_linear_scorer_learns_and_round_trips_through_json():
    d = disc_data()
    f = improved.disc_features(d.x, d.locations)
    scorer = improved.fit_linear(f, d.t, c=1.0)
    p = scorer.predict_proba(f)
    assert p[d.t == 1].mean() > p[d.t == 0].mean() + 0.2
    again = improved.LinearScorer.from_dict(scorer.to_dict())
    np.testing.assert_allclose(again.predict_proba(f), p)


def test_cosine_schedule_decays_from_lr():
    s = improved.CosineSchedule(0.01, 10)
    assert s(0) == pytest.approx(0.01)
    assert s(5) == pytest.approx(0.005)
    assert all(s(i) > s(i + 1) for i in range(9))


def test_config_round_trip():
    cfg = improved.with_overrides(TINY, stack_features=True)
    assert improved.ImprovedConfig.from_dict(cfg.to_dict()) == cfg


def test_fit_save_load_predicts_the_same(tmp_path):
    d = disc_data()
    cfg = improved.with_overrides(TINY, stack_features=True)
    model, val = improved.fit_model(d, cfg, seed=0)
    assert 0 <= val["val_auc"] <= 1 and 0 < model.threshold < 1
    path = model.save(tmp_path / "m.npz", {"note": "test"})
    loaded = improved.load_model(path)
    np.testing.assert_allclose(loaded.predict_proba(d.x, d.locations),
                               model.predict_proba(d.x, d.locations), atol=1e-6)
    assert loaded.threshold == pytest.approx(model.threshold)
    assert loaded.metadata["note"] == "test"


@pytest.mark.parametrize("scorer", ["texture", "stack"])
def test_other_scorers_save_and_load(tmp_path, scorer):
    d = disc_data()
    model, _ = improved.fit_model(d, improved.with_overrides(TINY, scorer=scorer), seed=0)
    assert model.texture_scorer is not None
    assert (model.stacker is None) == (scorer == "texture")
    loaded = improved.load_model(model.save(tmp_path / "m.npz"))
    np.testing.assert_allclose(loaded.predict_proba(d.x, d.locations),
                               model.predict_proba(d.x, d.locations), atol=1e-6)


def test_texture_model_learns_the_planted_signal():
    d = disc_data(n=90)
    folds = [(np.r_[30:90], np.r_[0:30]), (np.r_[0:30, 60:90], np.r_[30:60]),
             (np.r_[0:60], np.r_[60:90])]
    table = improved.texture_cross_validate(d, folds, improved.with_overrides(TINY,
                                                                              texture_c=1.0))
    assert table["auc"].min() > 0.8


def test_unknown_scorer_and_old_weight_configs():
    with pytest.raises(ValueError, match="scorer"):
        improved.with_overrides(TINY, scorer="magic")
    old = TINY.to_dict()
    del old["scorer"]
    assert improved.ImprovedConfig.from_dict(old).scorer == "cnn"


def test_fit_is_deterministic():
    d = disc_data()
    a, _ = improved.fit_model(d, TINY, seed=3)
    b, _ = improved.fit_model(d, TINY, seed=3)
    np.testing.assert_array_equal(a.predict_proba(d.x, d.locations),
                                  b.predict_proba(d.x, d.locations))


def test_cross_validation_covers_every_sample_once():
    d = disc_data(n=45)
    folds = [(np.r_[0:0, 15:45], np.r_[0:15]), (np.r_[0:15, 30:45], np.r_[15:30]),
             (np.r_[0:30], np.r_[30:45])]
    table, oof = improved.cross_validate(d, TINY, folds)
    assert len(table) == 3 and np.isfinite(oof).all()


def test_loading_a_plain_network_file_is_refused(tmp_path):
    from glaucoma_lib.network import build_network

    path = build_network(TINY.network_config(2.0, 0)).save_params(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="improved_config"):
        improved.load_model(path)
    with pytest.raises(FileNotFoundError):
        improved.load_model(tmp_path / "missing.npz")
