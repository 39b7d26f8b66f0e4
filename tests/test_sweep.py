"""The committed sweep table is read with its provenance, and only when both files exist."""

import json

import pandas as pd

from glaucoma_lib.study import sweep


def test_saved_sweep_reads_table_and_provenance(tmp_path):
    path = tmp_path / "improved_sweep.csv"
    assert sweep.saved_sweep(path) is None
    pd.DataFrame({"name": ["base"], "cv_auc_mean": [0.52]}).to_csv(path, index=False)
    assert sweep.saved_sweep(path) is None  # a table without provenance is not shown
    path.with_suffix(".json").write_text(json.dumps({"data_checksum": "abc", "seed": 0}))
    table, info = sweep.saved_sweep(path)
    assert table["name"].tolist() == ["base"] and info["data_checksum"] == "abc"


def test_committed_sweep_covers_every_candidate():
    saved = sweep.saved_sweep()
    assert saved is not None, "report/sweep/ must hold the table made by `make sweep`"
    table, info = saved
    assert set(table["name"]) == set(sweep.CANDIDATES)
    assert not info["synthetic"]
