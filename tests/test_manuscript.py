"""The paper's machinery: named values, checked sentences, citations, numbered figures and
tables, and the real paper.md against the committed build's values."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from glaucoma_lib.report import claims, manuscript, paper
from glaucoma_lib.report.claims import Estimate, Missing, evaluate
from glaucoma_lib.report.manuscript import ClaimError
from glaucoma_lib.report.swap import ReportError

ROOT = Path(__file__).resolve().parent.parent
VALUES = {"a": {"auc": Estimate(0.87, 0.84, 0.90), "off": Estimate(0.62, 0.57, 0.67)},
          "g": {"auc": Estimate(0.48, 0.43, 0.53)}, "n": 220, "share": 0.7136,
          "tables": {"t": {"columns": ["Model", "AUC"], "rows": [["CNN", "0.870"]]}}}
REFS = "[x]: Author X (2020). A paper.\n[y]: Author Y (2021). Another.\n"
ABSTRACT = "## Abstract\n\nShort.\n\n"


def _render(tmp_path, body, values=VALUES, strict=True, refs=REFS, cite=True):
    body += "\n\nCited [@x; @y].\n" if cite else ""
    (tmp_path / "paper.md").write_text(f"# Title\n\n{ABSTRACT}{body}\n", encoding="utf-8")
    (tmp_path / "refs.md").write_text(refs, encoding="utf-8")
    return manuscript.render(tmp_path / "paper.md", tmp_path / "refs.md", values, tmp_path,
                             "main{}", strict)


def test_conditions_read_intervals_and_refuse_code():
    assert evaluate("chance(g.auc)", VALUES) and not evaluate("chance(a.auc)", VALUES)
    assert evaluate("above(a.auc, a.off) and above(a.auc, 0.8)", VALUES)
    assert not evaluate("above(a.auc, 0.85)", VALUES)  # its interval reaches below 0.85
    assert evaluate("overlap(g.auc, Estimate)", {**VALUES, "Estimate": Estimate(0.5, 0.4, 0.6)})
    assert evaluate("a.auc.low > 0.8 and n == 220 and share < 0.72", VALUES)
    assert evaluate("abs(a.auc - 0.87) < 1e-9", VALUES)
    with pytest.raises(Missing):
        evaluate("chance(h.auc)", VALUES)
    for hostile in ("__import__('os')", "a.auc.__class__", "open('x')", "[x for x in n]",
                    "a.auc.value.real"):
        with pytest.raises((SyntaxError, Missing)):
            evaluate(hostile, VALUES)


def test_values_print_as_the_paper_writes_them():
    assert claims.show(VALUES["a"]["auc"]) == "0.870 (0.840–0.900)"
    assert claims.show(VALUES["share"], ".1%") == "71.4%"
    assert claims.show(1020) == "1,020" and claims.show(0.5) == "0.500"
    for bad in (None, True, float("nan")):
        with pytest.raises((TypeError, ValueError)):
            claims.show(bad)
    stored = {"x": {"value": 0.5, "low": 0.4, "high": 0.6}, "y": [1]}
    assert claims.from_json(stored) == {"x": Estimate(0.5, 0.4, 0.6), "y": [1]}


def test_a_sentence_its_results_no_longer_support_stops_a_strict_build(tmp_path):
    body = ("## Results\n\nThe CNN learns AIROGS: {{a.auc}}. <!-- check: above(a.auc, a.off) -->"
            " G1020 is at chance. <!-- check: chance(a.auc) -->\n")
    with pytest.raises(ClaimError, match=r'"G1020 is at chance\." .*chance\(a\.auc\)'):
        _render(tmp_path, body)
    page = _render(tmp_path, body, strict=False)
    assert "CNN learns AIROGS: 0.870 (0.840–0.900)." in page.html
    assert page.html.count("not supported by this build") == 1
    assert len(page.warnings) == 1 and "G1020 is at chance" in page.warnings[0]
    with pytest.raises(ReportError, match="did not record the value 'h.auc'"):
        _render(tmp_path, "## R\n\n{{h.auc}}\n")
    with pytest.raises(ClaimError, match="did not record h"):
        _render(tmp_path, "## R\n\nHYGD. <!-- check: chance(h.auc) -->\n")


def test_citations_are_numbered_by_first_use_and_must_match_the_list(tmp_path):
    page = _render(tmp_path, "## Intro\n\nFirst [@y], then [@x; @y].\n", cite=False).html
    assert 'First [<a href="#ref-y">1</a>]' in page
    assert '[<a href="#ref-x">2</a>, <a href="#ref-y">1</a>]' in page
    assert page.index('id="ref-y"') < page.index('id="ref-x"')
    with pytest.raises(ReportError, match="never cites"):
        _render(tmp_path, "## Intro\n\nOnly [@x].\n", cite=False)
    with pytest.raises(ReportError, match=r"cites \[@z\]"):
        _render(tmp_path, "## Intro\n\n[@x] [@y] [@z].\n", cite=False)


def test_figures_and_tables_are_numbered_and_referred_to(tmp_path):
    (tmp_path / "f.png").write_bytes(b"\x89PNG fake")
    body = ("## Results\n\nSee @fig:f and @tab:t.\n\n::: figure f\nWhat to **see**.\n:::\n\n"
            "::: table t\nThe table.\n:::\n")
    page = _render(tmp_path, body).html
    assert '<a href="#fig-f">Figure 1</a>' in page and '<a href="#tab-t">Table 1</a>' in page
    assert "<b>Figure 1.</b> What to <strong>see</strong>." in page
    assert "<th>Model</th>" in page and "<td>0.870</td>" in page
    assert 'src="data:image/png;base64,' in page
    with pytest.raises(ReportError, match="never shows"):
        _render(tmp_path, "## R\n\n@fig:nothing\n")
    with pytest.raises(ReportError, match="drew no"):
        _render(tmp_path, "## R\n\n::: figure g\nNo file.\n:::\n")
    for bad in ("nan", "None", "count divided...", "cut…"):
        values = copy.deepcopy(VALUES)
        values["tables"]["t"]["rows"][0][1] = bad
        with pytest.raises(ReportError, match="not something a reader should see"):
            _render(tmp_path, "## R\n\n::: table t\nT.\n:::\n", values)


def test_headings_are_numbered_with_a_table_of_contents_and_no_script(tmp_path):
    page = _render(tmp_path, "<!--toc-->\n\n## Intro\n\ntext\n\n### Part\n\nmore\n\n"
                             "## Data\n\ntext\n").html
    assert '<h2 id="sec-1">1 Intro</h2>' in page and '<h3 id="sec-1-1">1.1 Part</h3>' in page
    assert '<h2 id="sec-2">2 Data</h2>' in page and '<nav class="toc">' in page
    assert '<h2 id="abstract">Abstract</h2>' in page
    assert '<a href="#references">References</a></li></ul></nav>' in page
    assert "<script" not in page and "http" not in page


def test_an_abstract_over_250_words_stops_the_build(tmp_path):
    (tmp_path / "paper.md").write_text("# T\n\n## Abstract\n\n" + "word " * 251 + "\n\n## I\n",
                                       encoding="utf-8")
    (tmp_path / "refs.md").write_text(REFS, encoding="utf-8")
    with pytest.raises(ReportError, match="251 words"):
        manuscript.render(tmp_path / "paper.md", tmp_path / "refs.md", VALUES, tmp_path, "",
                          True)


def _committed_values():
    path = ROOT / "report" / "tables" / paper.VALUES_FILE
    if not path.is_file():
        pytest.skip("no committed build in this checkout")
    stored = json.loads(path.read_text(encoding="utf-8"))
    if stored["synthetic"]:
        pytest.skip("the committed build is synthetic")
    return claims.from_json(stored["values"])


def test_the_paper_holds_on_the_committed_results_and_fails_on_others(tmp_path):
    values = _committed_values()
    css = paper.CSS_FILE.read_text(encoding="utf-8")
    figures = ROOT / "figures"
    manuscript.render(paper.PAPER_SOURCE, paper.REFERENCES, values, figures, css, True)
    worse = copy.deepcopy(values)
    worse["signal"]["airogs"]["cnn_off"] = Estimate(0.90, 0.87, 0.93)  # the control catches up
    with pytest.raises(ClaimError, match="looks at the disc"):
        manuscript.render(paper.PAPER_SOURCE, paper.REFERENCES, worse, figures, css, True)
    learns = copy.deepcopy(values)
    learns["signal"]["g1020"]["cnn_disc"] = Estimate(0.70, 0.65, 0.75)  # G1020 no longer at chance
    with pytest.raises(ClaimError, match="G1020"):
        manuscript.render(paper.PAPER_SOURCE, paper.REFERENCES, learns, figures, css, True)
