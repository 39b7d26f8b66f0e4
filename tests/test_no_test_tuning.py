"""The guard behind "No test-set tuning": poison every test image and label and run the whole
model selection; nothing it chooses or saves may change."""

from dataclasses import replace

import numpy as np
import pytest
from conftest import TINY, disc_data

from glaucoma_lib.models.disc_model import DiscData
from glaucoma_lib.study import experiments


def _poisoned(test: DiscData) -> DiscData:
    """Noise pixels, flipped labels and scrambled detector confidences for every test image."""
    rng = np.random.default_rng(99)
    locations = test.locations.copy()
    locations["confidence"] = rng.random(len(locations))
    return DiscData(rng.random(test.x.shape).astype(test.x.dtype), 1 - test.t, test.ids,
                    locations)


def _selection(root, monkeypatch, train, test, config, data_dir) -> dict:
    """Train every seed, choose the final model, and return what the choice and files are."""
    monkeypatch.setenv("GLAUCOMA_MODELS_DIR", str(root))
    final = experiments.choose_final(
        experiments.train_seeds(train, test, config, [0, 1, 2], data_dir, synthetic=True))
    files = sorted(p for p in (root / final["run"]).iterdir() if p.suffix == ".npz")
    return {"config": final["config"], "seed": final["seed"],
            "validation": final["metrics"]["validation"],
            "weights": {p.name: p.read_bytes() for p in files}}


@pytest.mark.parametrize("scorer", ["texture", "cnn"])
def test_poisoned_test_split_changes_no_choice_and_no_weight_byte(tmp_path, monkeypatch,
                                                                  scorer):
    d = disc_data(n=60)
    train, test = d.subset(np.arange(45)), d.subset(np.arange(45, 60))
    data_dir = tmp_path / "data"
    (data_dir / "Images_Square").mkdir(parents=True)
    (data_dir / "G1020.csv").write_text("imageID,binaryLabels\n")
    config = replace(TINY, scorer=scorer)
    clean = _selection(tmp_path / "clean", monkeypatch, train, test, config, data_dir)
    poisoned = _selection(tmp_path / "poisoned", monkeypatch, train, _poisoned(test), config,
                          data_dir)
    assert clean["weights"]  # the comparison covers at least one weight file
    assert poisoned == clean
