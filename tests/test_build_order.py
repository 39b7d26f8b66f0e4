"""The build runs notebooks side by side only where neither reads what the other writes, the
benchmark alone, and a failure still stops the build."""

import functools
import json
import time
from pathlib import Path

import pytest

from glaucoma_lib.paths import NOTEBOOKS_DIR
from glaucoma_lib.report import build_order
from glaucoma_lib.report.swap import (
    ReportError,  # light imports: worker processes import this module
)

NOTEBOOKS = sorted(p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def test_readers_of_run_records_and_the_final_model_wait_for_their_writers():
    needs = build_order.needs(NOTEBOOKS)
    assert needs["01_data_selection"] == set()
    assert needs["05_results"] >= {"04_training"}
    assert needs["06_improved_model"] == {"01_data_selection", "02_splitting", "03_numpy_cnn"}
    assert needs["07_evaluation"] >= {"06_improved_model"}  # reads the improved runs' records,
    assert not needs["07_evaluation"] & {"04_training", "05_results"}  # none of notebook 04's
    assert needs["08_positive_control"] >= {"06_improved_model"}  # applies the final model
    assert needs["09_where_is_the_signal"] == {"01_data_selection", "02_splitting",
                                               "03_numpy_cnn"}  # reads no other runs
    assert needs["10_trust"] >= {"04_training", "06_improved_model", "08_positive_control"}
    assert needs[NOTEBOOKS[-1]] == set(NOTEBOOKS[:-1])
    assert build_order.needs(["01_a", "02_new"])["02_new"] == {"01_a"}  # unlisted: in order
    listed = set(build_order.SIDE_BY_SIDE) | set().union(*build_order.SIDE_BY_SIDE.values())
    assert listed | build_order.ALONE <= set(NOTEBOOKS)  # no stale names


def _fake_run(log: Path, notebook: Path) -> str:
    """Sleep as long as the notebook's name says (..._0.3 -> 0.3 s) and log start and end."""
    start = time.time()
    if notebook.stem.endswith("fail"):
        raise ReportError(f"notebook {notebook.name} failed")
    time.sleep(float(notebook.stem.rsplit("_", 1)[1]))
    with open(log, "a") as fh:
        fh.write(json.dumps([notebook.stem, start, time.time()]) + "\n")
    return notebook.stem


def _spans(log: Path) -> dict[str, tuple[float, float]]:
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return {name: (start, end) for name, start, end in rows}


def _simulate(durations: dict[str, float], slots: int) -> dict[str, tuple[float, float]]:
    """The schedule startable() makes when notebooks take these seconds: name -> (start, end)."""
    order = build_order.needs(list(durations))
    waiting, running, spans, now = [Path(n) for n in durations], {}, {}, 0.0
    while waiting or running:
        for nb in build_order.startable(waiting, running, set(spans), order, slots):
            waiting.remove(nb)
            running[nb] = now
        nb = min(running, key=lambda r: running[r] + durations[r.stem])
        now = running[nb] + durations[nb.stem]
        spans[nb.stem] = (running.pop(nb), now)
    return spans


def test_two_at_a_time_keeps_the_order_and_runs_the_benchmark_alone(monkeypatch):
    durations = {"01_a": 2, "02_b": 2, "03_bench": 5, "04_long": 90, "05_after4": 8,
                 "06_free": 45, "07_after46": 15, "08_new": 3}
    monkeypatch.setattr(build_order, "ALONE", {"03_bench"})
    monkeypatch.setattr(build_order, "SIDE_BY_SIDE", {"02_b": {"01_a"},
                                                      "06_free": {"04_long", "05_after4"}})
    spans = _simulate(durations, slots=2)
    needs = build_order.needs(list(durations))
    for name, (start, _) in spans.items():
        assert all(spans[before][1] <= start for before in needs[name]), name
    bench = spans["03_bench"]
    assert all(end <= bench[0] or start >= bench[1] for name, (start, end) in spans.items()
               if name != "03_bench")
    assert spans["02_b"][0] == spans["01_a"][0] == 0  # side by side
    assert spans["06_free"][0] == spans["04_long"][0] == bench[1]
    assert spans["08_new"][0] == spans["07_after46"][1]  # not listed: after everything
    assert _simulate(durations, slots=1)["08_new"][1] == sum(durations.values())


def test_notebooks_run_in_worker_processes_with_their_results_in_order(tmp_path):
    log = tmp_path / "log.jsonl"
    notebooks = [Path(n) for n in ("01_a_0.1.ipynb", "02_b_0.1.ipynb", "03_c_0.1.ipynb")]
    results = build_order.run_in_order(notebooks, functools.partial(_fake_run, log), slots=2)
    assert list(results) == notebooks and list(results.values()) == [n.stem for n in notebooks]
    spans = _spans(log)
    assert spans["01_a_0.1"][1] <= spans["02_b_0.1"][0] <= spans["02_b_0.1"][1] <= spans[
        "03_c_0.1"][0]  # none of these is listed side by side: one after the other


def test_a_failure_is_raised_after_the_running_notebooks_finish(tmp_path, monkeypatch):
    monkeypatch.setattr(build_order, "SIDE_BY_SIDE", {"02_fail": {"01_slow_0.5"}})
    log = tmp_path / "log.jsonl"
    notebooks = [Path(n) for n in ("01_slow_0.5.ipynb", "02_fail.ipynb", "03_never_0.1.ipynb")]
    with pytest.raises(ReportError, match="02_fail.ipynb failed"):
        build_order.run_in_order(notebooks, functools.partial(_fake_run, log), slots=2)
    assert list(_spans(log)) == ["01_slow_0.5"]  # finished; the next one never started


def test_one_slot_runs_in_this_process_in_order(tmp_path):
    log = tmp_path / "log.jsonl"
    notebooks = [Path(n) for n in ("01_x_0.0.ipynb", "02_y_0.0.ipynb")]
    build_order.run_in_order(notebooks, functools.partial(_fake_run, log), slots=1)
    assert list(_spans(log)) == ["01_x_0.0", "02_y_0.0"]
