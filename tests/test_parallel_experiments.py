"""The sweep and the experiments spread over two worker processes give exactly the serial
numbers (each task carries its own seed and runs with one BLAS thread), and a bad number of
workers is refused in words."""

import json
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, disc_data

from glaucoma_lib.study import experiments, sweep

TEXTURE = replace(TINY, scorer="texture", texture_c=1.0)


def fake_g1020(folder):
    """A folder that passes for G1020 (labels file and image folder); the crops come from
    conftest.disc_data instead of its images."""
    (folder / "Images_Square").mkdir(parents=True)
    (folder / "G1020.csv").write_text("imageID,binaryLabels\n")
    return folder


def test_sweep_on_two_workers_equals_serial(tmp_path, monkeypatch):
    tiny = {k: v for k, v in asdict(TINY).items() if k != "augmenter"}
    monkeypatch.setattr(sweep, "CANDIDATES", {"cnn": {**tiny, "epochs": 1},
                                              "texture": {**tiny, "scorer": "texture"}})
    monkeypatch.setattr(sweep, "load_disc_data_sets",
                        lambda _, configs: [(disc_data(n=40), None)] * len(configs))
    data_dir = fake_g1020(tmp_path / "data")
    runs = [sweep.run_sweep(data_dir, out=tmp_path / f"jobs{jobs}.csv", jobs=jobs)
            for jobs in (1, 2)]
    serial, parallel = (run.drop(columns="seconds") for run in runs)
    assert serial["name"].tolist() == ["cnn", "texture"]
    pd.testing.assert_frame_equal(parallel, serial, check_exact=True)
    assert pd.read_csv(tmp_path / "jobs2.csv")["name"].tolist() == ["cnn", "texture"]
    sweep.run_sweep(data_dir, ["texture"], out=tmp_path / "jobs2.csv", jobs=1)
    assert sorted(pd.read_csv(tmp_path / "jobs2.csv")["name"]) == ["cnn", "texture"]
    assert json.loads((tmp_path / "jobs2.json").read_text())["rerun"] == ["texture"]


def test_sweep_hands_out_the_units_that_took_longest_last_time_first(tmp_path, monkeypatch):
    tiny = {k: v for k, v in asdict(TINY).items() if k != "augmenter"}
    monkeypatch.setattr(sweep, "CANDIDATES", {"quick": {**tiny, "scorer": "texture"},
                                              "slow": {**tiny, "scorer": "texture", "epochs": 9}})
    monkeypatch.setattr(sweep, "load_disc_data_sets",
                        lambda _, configs: [(disc_data(n=40), None)] * len(configs))
    data_dir = fake_g1020(tmp_path / "data")
    first = sweep.run_sweep(data_dir, out=tmp_path / "s.csv", jobs=1)
    table = pd.read_csv(tmp_path / "s.csv").assign(seconds=[1.0, 50.0])  # slow took longer
    table.to_csv(tmp_path / "s.csv", index=False)
    handed_out = []
    run_tasks = sweep.run_tasks
    monkeypatch.setattr(sweep, "run_tasks", lambda fn, tasks, *a: handed_out.extend(
        t[1].epochs for t in tasks) or run_tasks(fn, tasks, *a))
    second = sweep.run_sweep(data_dir, out=tmp_path / "s.csv", jobs=1)
    assert handed_out == [9] * 5 + [TINY.epochs] * 5
    pd.testing.assert_frame_equal(second.drop(columns="seconds"), first.drop(columns="seconds"))


def test_fold_study_on_two_workers_equals_serial():
    d = disc_data(n=45)
    serial, parallel = (experiments.fold_study(d, replace(TINY, epochs=1), seed=1, k=3,
                                               jobs=jobs) for jobs in (1, 2))
    for name in ("blocked", "random"):
        assert np.isfinite(serial[name]["oof"]).all()
        np.testing.assert_array_equal(parallel[name]["oof"], serial[name]["oof"])
        pd.testing.assert_frame_equal(parallel[name]["folds"], serial[name]["folds"],
                                      check_exact=True)


def test_leakage_permutations_and_ideas_on_two_workers_equal_serial(monkeypatch):
    d = disc_data(n=60)
    d.t[::4] = 1 - d.t[::4]
    leak = [experiments.leakage_permutations(d, TEXTURE, n_permutations=3, k=3, jobs=jobs)
            for jobs in (1, 2)]
    pd.testing.assert_frame_equal(leak[1], leak[0], check_exact=True)
    monkeypatch.setattr(experiments, "load_disc_data_sets",
                        lambda _, configs: [(d, None)] * len(configs))
    ideas = [experiments.ideas_table("unused", crop_sizes=(96, 64), k=3, jobs=jobs)
             for jobs in (1, 2)]
    pd.testing.assert_frame_equal(ideas[1], ideas[0], check_exact=True)
    assert len(ideas[0]) == 4


@pytest.mark.parametrize("jobs", [0, -1, 1.5, "2", True])
def test_a_bad_number_of_workers_is_refused_in_words(jobs):
    with pytest.raises(ValueError, match="jobs must be a whole number of at least 1"):
        experiments.leakage_permutations(disc_data(n=30), TEXTURE, n_permutations=2, k=3,
                                         jobs=jobs)


def test_sweep_command_refuses_bad_jobs_and_unknown_candidates(capsys):
    for argv in (["--jobs", "0"], ["--jobs", "two"], ["no_such_candidate"]):
        with pytest.raises(SystemExit) as exit_:
            sweep.main(argv)
        assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "must be a whole number of at least 1, got '0'" in err
    assert "unknown candidates ['no_such_candidate']" in err
