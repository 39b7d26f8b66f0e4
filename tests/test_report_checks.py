"""The checks of a built paper catch what a reviewer would: a script from the web, a raw or cut
table cell, notebook voice, a missing section. Run on the committed paper, spoiled one way at a
time (each spoiled copy must fail)."""

from pathlib import Path

import pytest
from report_checks import check_paper

PAPER = Path(__file__).resolve().parent.parent / "report" / "paper.html"
SPOILS = {
    "a script from the web": ("</head>", '<script src="https://cdn.example/x.js"></script></head>'),
    "a raw table cell": ("<td>", "<td>nan</td><td>", 1),
    "a cut table cell": ("<td>", "<td>count divided...</td><td>", 1),
    "six decimals": ("<td>", "<td>0.709804</td><td>", 1),
    "notebook voice": ("<h2 id=\"sec-1\">", "<p>This notebook shows it.</p><h2 id=\"sec-1\">"),
    "a build path": ("<h2 id=\"sec-1\">", "<p>/work/main/models</p><h2 id=\"sec-1\">"),
    "no conclusion": (">6 Conclusion<", ">6 Endnote<"),
    "a wide text column": ("max-width: 40em", "max-width: 80em"),
}


@pytest.mark.parametrize("spoil", sorted(SPOILS))
def test_a_spoiled_paper_fails_its_checks(spoil, tmp_path):
    if not PAPER.is_file():
        pytest.skip("no committed paper in this checkout")
    page = PAPER.read_text(encoding="utf-8")
    check_paper(PAPER, None)  # the committed paper passes
    old, new, *count = SPOILS[spoil]
    assert old in page, old
    spoiled = tmp_path / "paper.html"
    spoiled.write_text(page.replace(old, new, *count), encoding="utf-8")
    with pytest.raises(AssertionError):
        check_paper(spoiled, None)
