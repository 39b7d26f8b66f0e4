"""The supplement: every executed notebook, whole, in order, after a title page, then the build
information; figures and tables numbered S1, S2, ... and print CSS for A4.

The paper (glaucoma_lib.report.manuscript) presents the results; the supplement holds
everything behind them: per-epoch tables, gradient checks, speed, trust checks, the sweep,
provenance and the code's outputs. Captions written by `glaucoma_lib.report.captions` are
numbered here in reading order, and every reference to them gets its number; a reference to a
figure or table that does not exist stops the build.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import re
from pathlib import Path

import nbformat

from glaucoma_lib.report.captions import KINDS
from glaucoma_lib.report.swap import ReportError

PAGE_BREAK = '<div style="page-break-after: always"></div>'
HIDDEN_TAGS = {"parameters", "injected-parameters", "remove-cell", "hide-in-report"}


SUPPLEMENT_TITLE = "Supplement: the executed notebooks behind the paper"

PRINT_CSS = """
<style>
@page { size: A4; margin: 14mm 13mm 16mm 13mm; }
@media screen { body { max-width: 60em; margin: 0 auto; }
  .jp-RenderedMarkdown { max-width: 46em; } }
.caption { font-size: 0.92em; color: #222; margin: 0.3em 0 1.1em 0; }
.jp-OutputArea-output pre { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; }
.jp-OutputArea-output img { max-width: 100%; height: auto; }
@media print {
  body { font-size: 10pt; }
  /* JupyterLab's flex boxes would let Chromium ignore the break rules below */
  .jp-Notebook, .jp-Cell, .jp-Cell-inputWrapper, .jp-Cell-outputWrapper, .jp-InputArea,
  .jp-OutputArea, .jp-OutputArea-child { display: block !important; }
  .jp-OutputArea-output, .jp-RenderedHTMLCommon, .jp-OutputArea, .jp-Cell-outputWrapper,
  .jp-Cell-outputArea { overflow: visible !important; }
  .jp-OutputPrompt, .jp-InputPrompt { display: none !important; }
  .jp-RenderedHTMLCommon table { font-size: 7.5pt; table-layout: auto; max-width: 100%;
    margin-left: 0; }
  .jp-RenderedHTMLCommon th, .jp-RenderedHTMLCommon td { padding: 1px 4px;
    white-space: normal; overflow-wrap: anywhere; max-width: 60mm; }
  .jp-RenderedHTMLCommon th { overflow-wrap: break-word; }
  .jp-OutputArea-output pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 8pt; }
  .jp-OutputArea-output img { max-height: 105mm; width: auto; max-width: 100%;
    page-break-inside: avoid; }
  h1, h2, h3, h4, .caption { page-break-after: avoid; break-after: avoid; }
  /* a figure stays with the caption below it, a table caption with the table below it */
  .jp-OutputArea-child:has(img), .jp-OutputArea-child:has(.caption),
  .jp-MarkdownCell:has(h1, h2, h3, h4) { break-after: avoid; page-break-after: avoid; }
  table, img { page-break-inside: avoid; break-inside: avoid; }
}
</style>
"""


# ---------------------------------------------------------------------------- cells


def prefix(path: Path) -> str:
    return Path(path).name[:2]


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The notebook's first level-1 heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _tags(cell: nbformat.NotebookNode) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def shown_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """Cells as readers see them: no parameter cells, no stderr (progress bars), no empty code
    cells; the notebook's own level-1 title dropped (the paper gives each its heading)."""
    cells, title_dropped = [], False
    for cell in copy.deepcopy(nb.cells):
        if _tags(cell) & HIDDEN_TAGS:
            continue
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs
                            if not (o.output_type == "stream" and o.name == "stderr")]
            if not cell.outputs:
                continue
        elif cell.cell_type == "markdown" and not title_dropped:
            lines = cell.source.splitlines()
            if lines and lines[0].startswith("# "):
                cell.source = "\n".join(lines[1:]).strip()
                title_dropped = True
                if not cell.source:
                    continue
        cells.append(cell)
    return cells


def _demote_text(text: str, levels: int) -> str:
    """Deeper headings, without a notebook's own section numbers ("## 1. Foo" -> "### Foo"):
    the paper numbers its sections itself."""
    return re.sub(r"^(#{1,5}) (?:\d+\. )?",
                  lambda m: "#" * min(len(m[1]) + levels, 6) + " ", text, flags=re.M)


def demote(cell: nbformat.NotebookNode, levels: int) -> nbformat.NotebookNode:
    """Headings ``levels`` deeper, in a Markdown cell and in Markdown outputs, so a notebook's
    sections nest under its paper section."""
    if cell.cell_type == "markdown":
        cell.source = _demote_text(cell.source, levels)
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if "text/markdown" in data:
            data["text/markdown"] = _demote_text(data["text/markdown"], levels)
    return cell


def _markdown(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text)


def _heading(level: int, text: str, anchor: str) -> nbformat.NotebookNode:
    return _markdown(f'<a id="{anchor}"></a>\n\n{"#" * level} {text}')


# ---------------------------------------------------------------------------- numbering

_CAPTION = re.compile(r'id="(fig|tab)-([\w-]+)"><b>(Figure|Table)\.</b>')
_MD_REF = re.compile(r"\[(Figure|Table)\]\(#(fig|tab)-([\w-]+)\)")
_HTML_REF = re.compile(r'<a href="#(fig|tab)-([\w-]+)">(Figure|Table)</a>')


def _texts(nb: nbformat.NotebookNode):
    """(container, key) of every text a caption or reference can sit in."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            yield cell, "source"
        for output in cell.get("outputs", []):
            for mime in ("text/html", "text/markdown"):
                if mime in output.get("data", {}):
                    yield output["data"], mime


def number_captions(nb: nbformat.NotebookNode) -> dict[str, int]:
    """Number every caption in reading order ("Figure S3."), then every reference to it
    ("Figure S3"); returns {"fig-name": 3, ...}. An unknown reference or a name used twice is a
    ReportError."""
    numbers: dict[str, int] = {}
    counters = dict.fromkeys(KINDS, 0)

    def caption(m: re.Match) -> str:
        key = f"{m[1]}-{m[2]}"
        if key in numbers:
            raise ReportError(f"two captions are named {key!r}: names must be unique")
        counters[m[1]] += 1
        numbers[key] = counters[m[1]]
        return f'id="{key}"><b>{m[3]} S{numbers[key]}.</b>'

    for box, key in _texts(nb):
        box[key] = _CAPTION.sub(caption, box[key])

    def number(kind: str, name: str) -> int:
        if f"{kind}-{name}" not in numbers:
            raise ReportError(f"the text refers to {KINDS[kind].lower()} {name!r}, which no "
                              "notebook shows with a caption")
        return numbers[f"{kind}-{name}"]

    for box, key in _texts(nb):
        box[key] = _MD_REF.sub(lambda m: f"[{m[1]} S{number(m[2], m[3])}](#{m[2]}-{m[3]})",
                               box[key])
        box[key] = _HTML_REF.sub(
            lambda m: f'<a href="#{m[1]}-{m[2]}">{m[3]} S{number(m[1], m[2])}</a>', box[key])
    return numbers


# ---------------------------------------------------------------------------- assembly


def title_page(data_line: str, checksum: str, seed: int, mode: str, synthetic: bool) -> str:
    """Title, the data by name and checksum, seed and date; the synthetic banner when it
    applies."""
    if synthetic:
        data_line = SYNTHETIC_BANNER_HTML
    built = dt.datetime.now().astimezone().strftime("%Y-%m-%d")
    return (f"# {SUPPLEMENT_TITLE}\n\n{data_line}\n\nData checksum (sha256) `{checksum}` · "
            f"seed {seed} · built {built} by `make report`, {mode} build. The paper "
            "(paper.html beside this file) presents the results; this supplement holds every "
            "notebook of the build, executed, with the tables and figures behind the paper's "
            "numbers. The code of each notebook is in `report/notebooks/`. Numbers are computed by "
            "the build from the data and the run records, except two stored inputs: the by-eye "
            "audits of disc detection and the table of the earlier hyper-parameter sweep.")


SYNTHETIC_BANNER_HTML = (
    '<div style="border:4px solid #c00;padding:1em;font-size:1.3em;color:#c00">'
    "<b>SYNTHETIC DATA — NOT A CLINICAL RESULT.</b> This build ran on the embedded synthetic "
    "fundus-like images, not on G1020. To build it on the real data, get G1020 (Kaggle data set "
    "\"glaucoma-datasets\", folder G1020) and run <code>make report DATA=/path/to/G1020</code> "
    "or set <code>GLAUCOMA_DATA</code>.</div>"
)


def assemble(executed: list[Path], title: str, build_info: str) -> nbformat.NotebookNode:
    """One notebook: the title page, each executed notebook whole as section S<n>, then the
    build information; captions numbered S1, S2, ..."""
    notebooks = {prefix(p): nbformat.read(p, as_version=4) for p in executed}
    out = nbformat.v4.new_notebook()
    out.metadata = copy.deepcopy(next(iter(notebooks.values())).metadata) if notebooks else {}
    out.metadata.pop("papermill", None)
    out.cells.append(_markdown(title))
    contents = [f"- [S{n}. {html.escape(notebook_title(nb, key))}](#nb-{key})"
                for n, (key, nb) in enumerate(notebooks.items(), 1)]
    out.cells.append(_markdown("## Contents\n\n" + "\n".join(contents)
                               + "\n- [Build information](#build-information)"))
    for n, (key, nb) in enumerate(notebooks.items(), 1):
        out.cells.append(_markdown(PAGE_BREAK))
        out.cells.append(_heading(1, f"S{n}. {html.escape(notebook_title(nb, key))}",
                                  f"nb-{key}"))
        out.cells += [demote(c, 1) for c in shown_cells(nb)]
    out.cells.append(_heading(1, "Build information", "build-information"))
    out.cells.append(_markdown(build_info))
    number_captions(out)
    return out


def export_html(nb: nbformat.NotebookNode, target: Path, resources_dir: Path) -> Path:
    """Self-contained HTML with code hidden (the executed notebooks keep it), no script (the
    template's require.js and MathJax come from the web, and nothing here needs them), A4 print
    CSS."""
    from nbconvert import HTMLExporter  # deferred: heavy, and only the build needs it

    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
        embed_images=True,
    )
    resources = {"metadata": {"path": str(resources_dir), "name": SUPPLEMENT_TITLE}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    body = re.sub(r"<script\b.*?</script>", "", body, flags=re.S)  # no JS, nothing from the web
    target.write_text(body.replace("</head>", PRINT_CSS + "</head>", 1), encoding="utf-8")
    return target
