"""The supplement: every notebook whole and in order, captions numbered S1, S2, ... in reading
order, references resolved, tables printed whole, wide tables made to fit."""

import re

import nbformat
import pandas as pd
import pytest

from glaucoma_lib.report import captions, supplement
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
    ]


def _text(nb) -> str:
    parts = []
    for cell in nb.cells:
        parts.append(cell.source if cell.cell_type == "markdown" else "")
        for o in cell.get("outputs", []):
            parts.append(o.get("data", {}).get("text/html", ""))
    return "\n".join(parts)


def test_every_notebook_whole_and_in_order(executed):
    text = _text(supplement.assemble(executed, "# TITLE", "BUILD-INFO"))
    order = ["TITLE", "Contents", "# S1. Data things", "DETAIL-01", "# S2. Training", "# S3. Trust",
             "TRUST", "# Build information", "BUILD-INFO"]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "# Data things" not in text  # a notebook's own title is printed once, numbered
    assert "\n### Sub" in text  # a notebook's ## nests under its section


def test_captions_and_references_are_numbered(executed):
    text = _text(supplement.assemble(executed, "# T", ""))
    assert '<b>Table S1.</b> Counts.' in text and '<b>Figure S1.</b> ROC curves.' in text
    assert "[Table S1](#tab-counts)" in text and "[Figure S1](#fig-roc)" in text


def test_unknown_reference_and_duplicate_caption_stop_the_build(tmp_path):
    bad = [_write(tmp_path / "01_a.ipynb", _md("# A\n\n[Figure](#fig-missing)"))]
    with pytest.raises(ReportError, match="missing"):
        supplement.assemble(bad, "# T", "")
    twice = captions.caption_html("fig", "same", "x")
    dup = [_write(tmp_path / "01_a.ipynb", _code(_html_output(twice)), _code(_html_output(twice)))]
    with pytest.raises(ReportError, match="same"):
        supplement.assemble(dup, "# T", "")


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
    assert supplement.demote(cell, 1).source == "### Finding the disc\ntext 2. stays\n#### 3.5 kept"


def test_tables_print_every_cell_whole_without_index_numbers():
    long = "count divided by all 220 test images, of which only 200 were scored at all"
    frame = pd.DataFrame({"auc_ci_low": [0.4296, float("nan")], "n_images": [185.0, 4.0],
                          "text": [long, None], "flag": [True, False]})
    page = captions.table_html(frame)
    assert "<th>auc ci low</th>" in page and "<th>n images</th>" in page
    assert "<td>0.430</td>" in page and "<td>–</td>" in page
    assert "<td>185</td>" in page and "<td>4</td>" in page
    assert long in page and "..." not in page and "…" not in page
    assert "<td>yes</td>" in page and "True" not in page and "nan" not in page
    assert "<th></th>" not in page  # no column of row numbers
    named = frame.set_index("text").rename_axis("what_it_is")
    assert "<th>what it is</th>" in captions.table_html(named)


def test_supplement_html_loads_nothing_from_the_web(tmp_path, executed):
    nb = supplement.assemble(executed, "# T", "")
    page = supplement.export_html(nb, tmp_path / "s.html", tmp_path).read_text()
    assert "<script" not in page
    assert not re.search(r'(src|href)="https?://', page)
