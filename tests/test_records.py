"""Run records round-trip, carry provenance, fail clearly, and stay identical for one seed."""

import json

import numpy as np
import pytest

from glaucoma_lib import records


def _write(run_dir, **overrides):
    kwargs = dict(
        config={"epochs": 2, "lr": 0.001},
        seed=0,
        data_checksum="abc123",
        metrics={"test_acc": np.float32(0.75), "confusion": np.array([[1, 2], [3, 4]])},
        history={"test_acc": [0.5, 0.75]},
        timings={"train_seconds": 1.5},
        synthetic=True,
    )
    kwargs.update(overrides)
    return records.write_run_record(run_dir, **kwargs)


def test_round_trip_with_numpy_values(tmp_path):
    path = _write(tmp_path / "fixed")
    assert path == tmp_path / "fixed" / records.RECORD_FILE
    record = records.read_run_record(tmp_path / "fixed")
    assert record["run"] == "fixed"
    assert record["metrics"]["test_acc"] == pytest.approx(0.75)
    assert record["metrics"]["confusion"] == [[1, 2], [3, 4]]
    assert record["data"] == {"dir": None, "synthetic": True, "checksum": "abc123"}
    assert record["seed"] == 0


def test_record_has_provenance(tmp_path):
    record = records.read_run_record(_write(tmp_path / "r").parent)
    assert set(records.REPORTED_PACKAGES) <= set(record["versions"])
    assert record["versions"]["python"].count(".") == 2
    assert record["runtime"]["cpu_count"] >= 1
    assert "blas" in record["runtime"]
    assert record["git_commit"] is None or len(record["git_commit"]) >= 40


def test_no_temp_files_left(tmp_path):
    _write(tmp_path / "r")
    assert [p.name for p in (tmp_path / "r").iterdir()] == [records.RECORD_FILE]


def test_unstorable_value_is_rejected(tmp_path):
    with pytest.raises(TypeError, match="cannot store object"):
        _write(tmp_path / "r", metrics={"bad": object()})
    assert not (tmp_path / "r" / records.RECORD_FILE).exists()


def test_missing_and_broken_records_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="train the run first"):
        records.read_run_record(tmp_path / "nothing")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / records.RECORD_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        records.read_run_record(tmp_path / "broken")
    (tmp_path / "broken" / records.RECORD_FILE).write_text(json.dumps({"run": "x"}))
    with pytest.raises(ValueError, match="lacks a 'metrics'"):
        records.read_run_record(tmp_path / "broken")


def test_list_runs_sorted_and_env_default(tmp_path, monkeypatch):
    _write(tmp_path / "b_fixed")
    _write(tmp_path / "a_original")
    (tmp_path / "not_a_run").mkdir()
    assert [r["run"] for r in records.list_runs(tmp_path)] == ["a_original", "b_fixed"]
    monkeypatch.setenv("GLAUCOMA_MODELS_DIR", str(tmp_path))
    assert records.models_dir() == tmp_path
    assert len(records.list_runs()) == 2
    assert records.list_runs(tmp_path / "missing") == []
