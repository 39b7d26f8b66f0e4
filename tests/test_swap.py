"""Putting a finished build in place: report, figures and committed models together, under a
lock, and a swap cut short anywhere finished by the next build (never a missing paper.html)."""

import fcntl
import os
import threading
import time

import pytest

from glaucoma_lib.report import swap

FILES = ("paper.html", "paper.pdf", "supplement.ipynb", "build_info.json")


def fake_build(report_dir, name, models=("final.npz",)):
    """A build folder as build_report leaves it, every output holding the build's name."""
    build = report_dir / f".build-{name}"
    for sub in ("notebooks", "figures", "tables", "weights"):
        (build / sub).mkdir(parents=True)
    for sub in ("notebooks", "figures", "tables"):
        (build / sub / f"{sub}.txt").write_text(name)
    for file in FILES:
        (build / file).write_text(name)
    for model in models:
        (build / "weights" / model).write_text(name)
    return build


def outputs(root):
    """Every output's text, by path relative to the output root (report/, figures/, weights/)."""
    report_dir = root / "report"
    found = {f: (report_dir / f).read_text() if (report_dir / f).exists() else None
             for f in FILES}
    for sub, folder in (("notebooks", report_dir), ("tables", report_dir), ("figures", root)):
        file = folder / sub / f"{sub}.txt"
        found[f"{sub}.txt"] = file.read_text() if file.exists() else None
    for model in ("final.npz", "airogs.npz"):
        file = root / "weights" / model
        found[model] = file.read_text() if file.exists() else None
    return found


def leftovers(report_dir):
    return sorted(p.name for p in report_dir.iterdir() if p.name != swap.SWAP_LOCK)


def swapped(root, name, **kw):
    report_dir = root / "report"
    report_dir.mkdir(exist_ok=True)
    swap.swap_in(fake_build(report_dir, name, **kw), report_dir, root / "figures", root / "weights")


def test_the_models_are_put_in_place_with_the_report(tmp_path):
    swapped(tmp_path, "first", models=("final.npz", "airogs.npz"))
    assert set(outputs(tmp_path).values()) == {"first"}
    swapped(tmp_path, "quick", models=())  # a build that wrote no model keeps the committed ones
    after = outputs(tmp_path)
    assert after.pop("final.npz") == after.pop("airogs.npz") == "first"
    assert set(after.values()) == {"quick"}
    assert leftovers(tmp_path / "report") == sorted([*FILES, "notebooks", "tables"])


def _crash_at(monkeypatch, step):
    """os.replace raises at its step-th call (every rename of the swap, and the models' atomic
    writes, go through it): a crash at any point of the swap."""
    real, calls = os.replace, []

    def replace(a, b):
        calls.append((a, b))
        if len(calls) == step:
            raise OSError("simulated crash")
        real(a, b)

    monkeypatch.setattr(swap.os, "replace", replace)
    return calls


RENAMES = 1 + 2 * 7 + 1  # the build staged, each of 7 outputs set aside and moved in, the model


@pytest.mark.parametrize("step", range(1, RENAMES + 1))
def test_a_swap_cut_short_anywhere_is_finished_by_the_next_build(tmp_path, monkeypatch, step):
    swapped(tmp_path, "old")
    calls = _crash_at(monkeypatch, step)
    with pytest.raises(OSError, match="simulated crash"):
        swapped(tmp_path, "new")
    monkeypatch.undo()
    assert len(calls) == step
    if step == 3:  # between setting the old paper.html aside and moving the new one in
        assert outputs(tmp_path)["paper.html"] is None
    report_dir = tmp_path / "report"
    swap.finish_swaps(report_dir, tmp_path / "figures", tmp_path / "weights")
    # staged (the first rename done): the swap is carried through; else nothing changed
    after = outputs(tmp_path)
    assert after.pop("airogs.npz") is None  # neither build wrote one
    assert set(after.values()) == {"new" if step > 1 else "old"}
    assert leftovers(report_dir) == sorted(
        [*FILES, "notebooks", "tables", *([".build-new"] if step == 1 else [])])


def test_the_next_swap_first_finishes_one_cut_short(tmp_path, monkeypatch):
    swapped(tmp_path, "old")
    _crash_at(monkeypatch, 3)
    with pytest.raises(OSError):
        swapped(tmp_path, "crashed")
    monkeypatch.undo()
    swapped(tmp_path, "next", models=())
    after = outputs(tmp_path)
    assert after.pop("final.npz") == "crashed" and after.pop("airogs.npz") is None
    assert set(after.values()) == {"next"}
    assert leftovers(tmp_path / "report") == sorted([*FILES, "notebooks", "tables"])


def test_outputs_set_aside_by_a_crashed_swap_of_earlier_code_are_put_back(tmp_path):
    """The earlier swap set every old output aside in report/.old-*, then moved the new ones in:
    a crash between the two left paper.html (and the rest) only in .old-*."""
    report_dir = tmp_path / "report"
    old = report_dir / ".old-20250101-000000-abc"
    (old / "report-notebooks").mkdir(parents=True)
    (old / "report-notebooks" / "notebooks.txt").write_text("old")
    (old / f"{tmp_path.name}-figures").mkdir()
    (old / f"{tmp_path.name}-figures" / "figures.txt").write_text("old")
    for file in FILES:
        (old / f"report-{file}").write_text("old")
    (report_dir / "paper.pdf").write_text("new")  # moved in before the crash
    swap.finish_swaps(report_dir, tmp_path / "figures", tmp_path / "weights")
    after = outputs(tmp_path)
    assert after["paper.html"] == after["notebooks.txt"] == after["figures.txt"] == "old"
    assert after["paper.pdf"] == "new"
    assert not (report_dir / old.name).exists()


def test_two_swaps_at_once_never_interleave(tmp_path, monkeypatch):
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    real_replace = os.replace

    def slow_replace(a, b):
        time.sleep(0.02)  # widens the window in which an unlocked swap would interleave
        real_replace(a, b)

    monkeypatch.setattr(swap.os, "replace", slow_replace)
    builds = [fake_build(report_dir, name) for name in ("first", "second", "third")]
    errors = []

    def swap_one(build):
        try:
            swap.swap_in(build, report_dir, tmp_path / "figures", tmp_path / "weights")
        except Exception as error:  # noqa: BLE001 - collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=swap_one, args=(b,)) for b in builds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    after = outputs(tmp_path)
    after.pop("airogs.npz")
    assert len(set(after.values())) == 1  # every output from the same build
    assert leftovers(report_dir) == sorted([*FILES, "notebooks", "tables"])


def test_a_swap_that_waits_too_long_fails_clearly(tmp_path, monkeypatch):
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    monkeypatch.setattr(swap, "SWAP_LOCK_TIMEOUT", 0.2)
    build = fake_build(report_dir, "late")
    with open(report_dir / swap.SWAP_LOCK, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(swap.ReportError, match="another build is swapping"):
            swap.swap_in(build, report_dir, tmp_path / "figures", tmp_path / "weights")
    assert not (report_dir / "paper.html").exists() and (build / "paper.html").exists()
    assert not (tmp_path / "weights").exists()
