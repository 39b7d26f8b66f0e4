"""The positive control's procedures on small planted data: folds, nested choice, learning
curves, the chosen model, and the whole-image CNN kind through save/load and predict."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import fundus, planted
from PIL import Image

from glaucoma_lib import metrics
from glaucoma_lib.cli.predict import predict
from glaucoma_lib.data import split
from glaucoma_lib.models.image_model import ImageCnnModel, ImageRecipe, fit_image_cnn
from glaucoma_lib.models.kinds import load_model
from glaucoma_lib.models.linear import linear_oof
from glaucoma_lib.study import control


def test_stratified_folds_partition_and_balance_the_classes():
    t = np.r_[np.zeros(40, int), np.ones(20, int)]
    folds = split.stratified_folds(t, 5, seed=3)
    held = np.concatenate([te for _, te in folds])
    assert sorted(held) == list(range(60))
    assert all(t[te].sum() == 4 and len(te) == 12 for _, te in folds)
    assert all(np.intersect1d(tr, te).size == 0 for tr, te in folds)
    again = split.stratified_folds(t, 5, seed=3)
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again, strict=True))
    with pytest.raises(ValueError, match="smaller class"):
        split.stratified_folds(np.r_[np.zeros(9, int), 1], 2)


def test_nested_choice_finds_the_informative_features_and_best_ignores_the_nested_row():
    data = planted()
    oof, chosen = control.nested_texture_oof(data, inner_k=3)
    assert all("96 px" in c for c in chosen)
    table = pd.DataFrame([control.summarise(n, data.t, linear_oof(
        data.texture[crop], data.t, data.folds, c), data.folds)
        for n, (crop, c) in control.texture_candidates().items()]).set_index("pipeline")
    table.loc["texture, crop and C chosen by inner CV (nested)"] = table.iloc[0]
    table.loc["texture, crop and C chosen by inner CV (nested)", "pooled AUC"] = 1.0
    assert "96 px" in control.best_pipeline(table)
    assert control.summarise("nested", data.t, oof, data.folds)["pooled AUC"] > 0.8


def test_learning_curve_sizes_and_subsamples():
    data = planted()
    sizes = control.curve_sizes(len(data.folds[0][0]), 3)
    assert sizes == [20, 40, 60]
    curve = control.learning_curve(data, 96, 0.1, sizes, repeats=2)
    assert curve["training images"].tolist() == sizes
    assert curve["AUC mean"].iloc[-1] > 0.8
    rng = np.random.default_rng(0)
    pick = control._stratified_sample(data.t, np.arange(60), 20, rng)
    assert len(pick) == 20 and data.t[pick].sum() == 10


def test_chosen_texture_model_takes_its_threshold_from_out_of_fold_probabilities():
    data = planted()
    name = "texture on 96 px disc crops, C=0.1"
    oof = linear_oof(data.texture[96], data.t, data.folds, 0.1)
    model = control.fit_chosen(data, name, oof)
    assert model.kind == "texture" and model.config.crop_size == 96
    assert model.metadata["pipeline"] == name
    assert model.threshold == metrics.threshold_youden(data.t, oof)


def test_whole_image_cnn_saves_loads_and_scores_through_predict(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (12, 3, 16, 16), dtype=np.uint8)
    t = np.arange(12) % 2
    recipe = replace(ImageRecipe(image_size=16, epochs=1, batch_size=6))
    model = fit_image_cnn(x, t, recipe, seed=1, threshold=0.4)
    path = model.save(tmp_path / "airogs.npz", {"note": "x"})
    loaded = load_model(path)
    assert isinstance(loaded, ImageCnnModel) and loaded.metadata["note"] == "x"
    unit = x.astype(np.float32) / 255
    np.testing.assert_allclose(loaded.predict_proba(unit), model.predict_proba(unit), atol=1e-6)
    Image.fromarray(fundus()).save(tmp_path / "eye.jpg")
    row = predict(tmp_path / "eye.jpg", weights=path).iloc[0]
    assert row["status"] == "ok" and 0 <= row["probability"] <= 1
    assert row["label"] == int(row["probability"] >= 0.4)
