"""Run records round-trip, carry provenance, fail clearly, and stay identical for one seed."""

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from glaucoma_lib import paths
from glaucoma_lib.study import original as original_study
from glaucoma_lib.study import records, reproduce, sentences

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


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
    assert record["data"] == {"name": None, "dir": None, "synthetic": True, "checksum": "abc123"}
    assert record["seed"] == 0


def test_record_has_provenance(tmp_path):
    record = records.read_run_record(_write(tmp_path / "r").parent)
    assert set(records.REPORTED_PACKAGES) <= set(record["versions"])
    assert record["versions"]["python"].count(".") == 2
    assert record["runtime"]["cpu_count"] >= 1
    assert "blas" in record["runtime"]
    assert record["git_commit"] is None or len(record["git_commit"]) >= 40


def test_runtime_names_the_processor_and_the_blas_kernel(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Test CPU 9000\n")
    assert records.cpu_model(cpuinfo) == "Test CPU 9000"
    monkeypatch.setattr(records.platform, "processor", lambda: "")
    assert records.cpu_model(tmp_path / "missing") == "unknown"
    pools = [{"user_api": "blas", "internal_api": "openblas", "version": "0.3.31",
              "num_threads": 2, "architecture": "Haswell"},
             {"user_api": "openmp", "internal_api": "openmp", "version": None, "num_threads": 2}]
    monkeypatch.setattr(records, "threadpool_info", lambda: pools)
    runtime = records.runtime_info()
    assert runtime["blas"] == "openblas 0.3.31 (Haswell kernel)"
    assert runtime["blas_threads"] == 2 and runtime["cpu"]


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
    assert paths.models_dir() == tmp_path
    assert len(records.list_runs()) == 2
    assert records.list_runs(tmp_path / "missing") == []


def _quick_notebook_04(models: Path, output: Path) -> dict:
    import papermill

    parameters = {"quick": True}
    if os.environ.get("GLAUCOMA_DATA"):
        parameters["data_dir"] = os.environ["GLAUCOMA_DATA"]
    old = os.environ.get("GLAUCOMA_MODELS_DIR")
    os.environ["GLAUCOMA_MODELS_DIR"] = str(models)
    try:
        papermill.execute_notebook(
            str(NOTEBOOKS / "04_training.ipynb"), str(output), parameters=parameters,
            kernel_name="python3", progress_bar=False, cwd=str(NOTEBOOKS),
        )
    finally:
        if old is None:
            os.environ.pop("GLAUCOMA_MODELS_DIR")
        else:
            os.environ["GLAUCOMA_MODELS_DIR"] = old
    return {r["run"]: r for r in records.list_runs(models)}


@pytest.mark.slow
def test_two_quick_builds_give_identical_metrics(tmp_path):
    """Same seed, same machine: notebook 04 twice -> identical metrics and histories."""
    first = _quick_notebook_04(tmp_path / "a", tmp_path / "a.ipynb")
    second = _quick_notebook_04(tmp_path / "b", tmp_path / "b.ipynb")
    assert sorted(first) == sorted(second) == ["repro_as_built", "repro_fixed"]
    for run in first:
        assert first[run]["metrics"] == second[run]["metrics"], run
        for key in ("train_loss", "epoch_loss", "train_acc", "test_acc", "test_auc"):
            assert first[run]["history"][key] == second[run]["history"][key], (run, key)
        assert first[run]["data"] == second[run]["data"]


def _saved_run(tmp_path, name, test_labels, true_labels, evaluated, spec):
    from glaucoma_lib.nn.history import History
    from glaucoma_lib.nn.network import DeepConvNet, NetworkConfig

    history = History(train_loss=[0.7, 0.6, 0.65, 0.5], epoch_loss=[0.65, 0.575],
                      train_acc=[0.7, 0.8], test_acc=[0.6, 0.7], iter_per_epoch=2)
    network = DeepConvNet(config=NetworkConfig(input_dim=(3, 16, 16)))
    data = tmp_path / "data"
    (data / "Images_Square").mkdir(parents=True, exist_ok=True)
    (data / "G1020.csv").write_text("imageID,binaryLabels\n")
    prob = np.linspace(0.1, 0.9, len(test_labels))
    return records.save_run(
        tmp_path / name, network, history, test_ids=[f"image_{i}.jpg" for i in range(8)],
        test_labels=np.array(test_labels), test_prob=prob, true_test_labels=true_labels,
        train_labels=np.array([0, 0, 0, 1, 1, 1]), evaluated_per_epoch=evaluated,
        extra_metrics=reproduce.run_metrics(spec, np.array(test_labels), np.zeros(8, int), {
            "train": {"n_images": 6, "n_other_image_label": 5, "n_wrong_class": 2},
            "test": {"n_images": 8, "n_other_image_label": 5, "n_wrong_class": 5}}),
        config={"evaluate_sample_num_per_epoch": evaluated, "pairing": spec.pairing}, seed=0,
        data_dir=data,
        synthetic=True,
    )


def test_save_run_and_comparison_table(tmp_path):
    truth = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    original = _saved_run(tmp_path, "as_built", [1, 0, 0, 1, 0, 1, 0, 0], truth, 4,
                          replace(reproduce.RUNS["repro_as_built"], final_accuracy_batch=3))
    fixed = _saved_run(tmp_path, "fixed", truth, None, None, reproduce.RUNS["repro_fixed"])
    assert {p.name for p in (tmp_path / "fixed").iterdir()} == {
        records.WEIGHTS_FILE, records.HISTORY_FILE, records.RECORD_FILE}
    m = original["metrics"]
    assert m["pairing"]["train"]["n_wrong_class"] == 2
    assert m["always_healthy_per_epoch"] == {"test_evaluated": 0.5, "train_evaluated": 0.75}
    assert m["true_labels"]["auc"] == 1.0  # probabilities rise with the true label
    assert fixed["metrics"]["as_scored"] == fixed["metrics"]["true_labels"]
    table = original_study.comparison_table(original, fixed)
    assert list(table.columns) == [
        "original report", "faithful reproduction (as_built)", "fixed pipeline (fixed)"]
    assert table.loc["final test accuracy as the original computed it (labels as paired)",
                     "original report"] == "68.64%"
    assert table.loc["final test accuracy as the original computed it (labels as paired)",
                     "faithful reproduction (as_built)"] == (
        "37.50% (3 correct of the first 6 scored, divided by 8)")
    assert table.loc["always-healthy accuracy, all test images (labels as paired)",
                     "original report"] == original_study.NOT_COMPUTED
    assert table.loc["training images given the wrong class",
                     "faithful reproduction (as_built)"] == "2 of 6 (33.33%)"
    assert table.loc["images evaluated per epoch", "fixed pipeline (fixed)"] == "all images"
    frame = records.history_frame(fixed)
    assert list(frame["epoch"]) == [1, 2] and "val_acc" not in frame
    losses = records.iteration_loss_frame(fixed)
    assert list(losses.columns) == ["it1", "it2", "mean"]
    assert losses["mean"].tolist() == pytest.approx([0.65, 0.575])
    text = "\n".join(sentences.reproduction_findings(original, fixed, synthetic=True))
    assert text.startswith("SYNTHETIC DATA")
    assert "gave 5 of its 6 training images another image's label; 2 of them (33%)" in text
    assert "int(8/3) × 3 = 6 images" in text and "3/8 = 37.50%" in text
    assert "answers 'healthy' for every eye: the bugs" not in text  # the fixed run finds glaucoma
    assert "first 4 images of each split" in text
    assert "still includes 0.5" not in text  # the fixed run's AUC is 1.0 here


def test_pairing_counts_separate_other_labels_from_wrong_classes():
    """Swapping two images' labels gives both another image's label; the class is wrong only
    when the two labels differ."""
    label_of = {"a": 0, "b": 0, "c": 1}
    counts = reproduce.pairing_counts(["a", "b", "c"], ["b", "a", "c"], label_of)
    assert counts == {"n_images": 3, "n_other_image_label": 2, "n_wrong_class": 0}
    counts = reproduce.pairing_counts(["a", "b", "c"], ["a", "c", "b"], label_of)
    assert counts == {"n_images": 3, "n_other_image_label": 2, "n_wrong_class": 2}


@pytest.mark.slow
def test_training_runs_side_by_side_give_the_serial_records(tmp_path):
    from glaucoma_lib.data import synthetic

    folder = synthetic.make_synthetic(tmp_path / "syn", n_images=60, image_side=64)
    settings = reproduce.Settings(str(folder), image_size=16, epochs=3, quick=False)
    parallel, serial = (reproduce.train_runs(settings, models_root=tmp_path / f"jobs{jobs}",
                                             jobs=jobs) for jobs in (2, 1))
    for run in reproduce.RUNS:
        for record in (parallel[run], serial[run]):
            record["history"].pop("epoch_seconds")
        assert parallel[run]["history"] == serial[run]["history"]
        assert parallel[run]["metrics"] == serial[run]["metrics"]
    assert len(parallel["repro_fixed"]["history"]["train_acc"]) == 3
    assert None not in parallel["repro_fixed"]["history"]["test_acc"]


def test_a_record_names_the_data_set_it_was_made_on(tmp_path):
    """The provenance table says which data set a run used (the control's run is AIROGS's)."""
    folder = tmp_path / "airogs"
    folder.mkdir()
    (folder / "labels.csv").write_text("image,label\nEyePACS-RG-1.jpg,1\n")
    path = records.write_run_record(tmp_path / "run", config={}, seed=0, data_checksum="c",
                            metrics={}, data_dir=folder)
    assert records.read_run_record(path.parent)["data"]["name"] == "EyePACS-AIROGS-light"
