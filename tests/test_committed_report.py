"""The committed build (report/paper.* and supplement.*, built with G1020, EyePACS-AIROGS-light and
HYGD by `make report`): a paper a journal would print, within its page budget, whose first two
pages give the headline result, its interval and its control; a supplement with nothing cut."""

import json
import re
from pathlib import Path

import pytest
from report_checks import check_paper, check_supplement, pdf_pages

REPORT = Path(__file__).resolve().parent.parent / "report"


def _committed(name: str) -> Path:
    if not (REPORT / name).is_file():
        pytest.skip(f"no committed {name} in this checkout")
    return REPORT / name


def test_committed_paper_reads_as_a_paper():
    pdf = REPORT / "paper.pdf"
    check_paper(_committed("paper.html"), pdf if pdf.is_file() else None)


def test_committed_supplement_is_whole():
    pdf = REPORT / "supplement.pdf"
    check_supplement(_committed("supplement.html"), pdf if pdf.is_file() else None)


def test_headline_interval_and_control_are_on_the_first_two_pages():
    stored = json.loads(_committed("tables/paper_values.json").read_text())
    airogs = stored["values"]["signal"]["airogs"]
    first_two = " ".join(" ".join(pdf_pages(_committed("paper.pdf"))[:2]).split())
    for row in ("cnn_disc", "cnn_off", "stats"):
        e = airogs[row]
        assert f"{e['value']:.3f} ({e['low']:.3f}–{e['high']:.3f})" in first_two, row


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


def test_the_readme_quotes_only_numbers_the_committed_build_prints():
    """README's findings are copied by hand: each AUC-like number in them must be one that the
    committed paper or supplement prints, so that a rebuilt report cannot leave them stale."""
    readme = (REPORT.parent / "README.md").read_text(encoding="utf-8")
    findings = readme[readme.index("## What it finds"):readme.index("## Two commands")]
    printed = _committed("paper.html").read_text() + _committed("supplement.html").read_text()
    numbers = set(re.findall(r"(?<![\d.])0\.\d{3}(?!\d)", findings))
    assert numbers, "no numbers found: the section moved?"
    missing = sorted(n for n in numbers if n not in printed)
    assert not missing, f"README quotes numbers the committed build does not print: {missing}"
