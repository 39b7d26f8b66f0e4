"""Paper assembly: cells placed by tag, captions numbered in reading order, references resolved,
wide tables made to fit."""

import nbformat
import pandas as pd
import pytest

from glaucoma_lib.report import captions, paper
from glaucoma_lib.report.swap import ReportError


def _html_output(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("display_data", data={"text/html": text})


def _code(*outputs, tags=()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("x = 1", outputs=list(outputs))
    cell.metadata["tags"] = list(tags)
    return cell


def _md(text: str, tags=()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = list(tags)
    return cell


def _write(path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def executed(tmp_path):
    fig = captions.caption_html("fig", "roc", "ROC curves.")
    tab = captions.caption_html("tab", "counts", "Counts.")
    return [
        _write(tmp_path / "01_data.ipynb", _md("# Data things\n\nSee [Table](#tab-counts)."),
               _code(_html_output(tab)), _code(_html_output("<p>DETAIL-01</p>"),
                                               tags=["appendix"])),
        _write(tmp_path / "04_train.ipynb", _md("# Training\n\n## Sub\n\n[Figure](#fig-roc)"),
               _code(_html_output(fig))),
        _write(tmp_path / "10_trust.ipynb", _md("# Trust"), _code(_html_output("<p>TRUST</p>"))),
        _write(tmp_path / "11_summary.ipynb", _md("# Summary"), _md("ABSTRACT-TEXT", ["front"]),
               _md("INTRO-TEXT", ["introduction"]), _md("DISCUSSION-TEXT", ["discussion"]),
               _md("1. A reference", ["references"])),
    ]


def _text(nb) -> str:
    parts = []
    for cell in nb.cells:
        parts.append(cell.source if cell.cell_type == "markdown" else "")
        for o in cell.get("outputs", []):
            parts.append(o.get("data", {}).get("text/html", ""))
    return "\n".join(parts)


def test_paper_order_and_appendix_placement(executed):
    text = _text(paper.assemble(executed, "# TITLE", "BUILD-INFO"))
    order = ["TITLE", "ABSTRACT-TEXT", "1. Introduction", "INTRO-TEXT", "2. Data",
             "2.1 Data things", "3. Methods", "4. Results", "4.1 Training", "5. Discussion",
             "DISCUSSION-TEXT", "References", "1. A reference", "Appendices",
             "A. Details: Data things", "DETAIL-01", "B. Trust", "TRUST",
             "C. Build information", "BUILD-INFO"]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "# Summary" not in text  # the summary notebook's own title is not printed
    assert "\n### Sub" in text  # a notebook's ## nests under its ## paper section


def test_captions_and_references_are_numbered(executed):
    text = _text(paper.assemble(executed, "# T", ""))
    assert '<b>Table 1.</b> Counts.' in text and '<b>Figure 1.</b> ROC curves.' in text
    assert "[Table 1](#tab-counts)" in text and "[Figure 1](#fig-roc)" in text


def test_unknown_reference_and_duplicate_caption_stop_the_build(tmp_path):
    bad = [_write(tmp_path / "01_a.ipynb", _md("# A\n\n[Figure](#fig-missing)"))]
    with pytest.raises(ReportError, match="missing"):
        paper.assemble(bad, "# T", "")
    twice = captions.caption_html("fig", "same", "x")
    dup = [_write(tmp_path / "01_a.ipynb", _code(_html_output(twice)), _code(_html_output(twice)))]
    with pytest.raises(ReportError, match="same"):
        paper.assemble(dup, "# T", "")


def test_caption_names_and_kinds_are_checked():
    with pytest.raises(ValueError, match="kind"):
        captions.caption_html("plot", "x", "y")
    with pytest.raises(ValueError, match="name"):
        captions.caption_html("fig", 'a"><script>', "y")
    assert "&lt;b&gt;" in captions.caption_html("fig", "a", "<b>")


def test_wide_tables_are_transposed_or_split():
    short_wide = pd.DataFrame([range(20)])
    assert [p.shape for p in captions.fit_columns(short_wide)] == [(20, 1)]
    long_wide = pd.DataFrame([range(20)] * 30)
    parts = captions.fit_columns(long_wide, 8)
    assert [p.shape[1] for p in parts] == [8, 8, 4]
    assert pd.concat(parts, axis=1).equals(long_wide)
    narrow = pd.DataFrame([range(3)] * 30)
    assert captions.fit_columns(narrow)[0] is narrow


def test_table_csv_goes_to_the_tables_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GLAUCOMA_TABLES_DIR", str(tmp_path))
    frame = pd.DataFrame({"a": [1, 2]})
    captions.table(frame.head(1), "loss_detail", "Loss.", csv=frame)
    assert pd.read_csv(tmp_path / "loss_detail.csv", index_col=0).equals(frame)


def test_demoted_headings_lose_the_notebooks_own_numbers():
    cell = nbformat.v4.new_markdown_cell("## 1. Finding the disc\ntext 2. stays\n### 3.5 kept")
    assert paper.demote(cell, 1).source == "### Finding the disc\ntext 2. stays\n#### 3.5 kept"
