"""The committed report (report/report.html and .pdf, built on G1020 by `make report`) reads as a
paper: nothing clipped, no build-machine paths, numbered captions, main body within budget."""

import json
from pathlib import Path

import pytest
from report_checks import check_report

REPORT = Path(__file__).resolve().parent.parent / "report"


def test_committed_report_is_a_clean_paper():
    if not (REPORT / "report.html").is_file():
        pytest.skip("no committed report in this checkout")
    pdf = REPORT / "report.pdf"
    check_report(REPORT / "report.html", pdf if pdf.is_file() else None)


def test_committed_build_info_records_every_notebook_and_the_total():
    info = json.loads((REPORT / "build_info.json").read_text())
    notebooks = sorted(p.name for p in (REPORT.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(info["seconds"]) == notebooks
    seconds = info["seconds"].values()
    # wall clock of all notebooks, up to notebooks_at_once of them side by side
    assert max(seconds) <= info["total_seconds"] <= sum(seconds) + 5
    if info["notebooks_at_once"] == 1:
        assert info["total_seconds"] == pytest.approx(sum(seconds), abs=5)
    assert sorted(info["cpu_seconds"]) == notebooks  # CPU seconds of each notebook's processes
    assert all(cpu > 0 for cpu in info["cpu_seconds"].values())
    assert set(info["machine"]) == {"cpu", "cpu_count", "blas"}  # what the seconds were timed on
    assert not info["synthetic"] and not info["quick"]
