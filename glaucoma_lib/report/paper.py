"""The executed notebooks assembled as a paper: front matter, Introduction, Data, Methods, Results,
Discussion, References, then appendices; figures and tables numbered, print CSS for A4.

The notebooks stay the units. Where a cell goes is set by its tags: `front`, `introduction`,
`discussion` and `references` (the summary notebook's generated text), `appendix` (detail that
a reader of the paper can skip); untagged cells stay in their notebook's section. Captions
written by `glaucoma_lib.report.captions` are numbered here in reading order, and every reference to
them gets its number; a reference to a figure or table that does not exist stops the build.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from glaucoma_lib.report.captions import KINDS
from glaucoma_lib.report.swap import ReportError

REPORT_TITLE = "Glaucoma screening from fundus photographs: an open reproduction"
PAGE_BREAK = '<div style="page-break-after: always"></div>'
PLACEMENT_TAGS = {"front", "introduction", "discussion", "references", "appendix"}
HIDDEN_TAGS = {"parameters", "injected-parameters", "remove-cell", "hide-in-report"}


@dataclass(frozen=True)
class Part:
    """One numbered section of the paper: notebooks by number prefix, or summary cells by tag."""

    title: str
    notebooks: tuple[str, ...] = ()
    tag: str | None = None


PARTS = (
    Part("Introduction", tag="introduction"),
    Part("Data", notebooks=("01",)),
    Part("Methods", notebooks=("02", "03")),
    Part("Results", notebooks=("04", "05", "06", "07", "08", "09")),  # and any notebook not placed
    Part("Discussion and limitations", tag="discussion"),
)
APPENDIX_NOTEBOOKS = ("10",)  # whole notebooks that belong in the appendix
SUMMARY_NOTEBOOK = "11"  # generated front matter and discussion; runs last, read first

PRINT_CSS = """
<style>
@page { size: A4; margin: 14mm 13mm 16mm 13mm; }
.caption { font-size: 0.92em; color: #222; margin: 0.3em 0 1.1em 0; }
.jp-OutputArea-output pre { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; }
.jp-OutputArea-output img { max-width: 100%; height: auto; }
@media print {
  body { font-size: 10pt; }
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
    """Number every caption in reading order ("Figure 3."), then every reference to it
    ("Figure 3"); returns {"fig-name": 3, ...}. An unknown reference or a name used twice is a
    ReportError."""
    numbers: dict[str, int] = {}
    counters = dict.fromkeys(KINDS, 0)

    def caption(m: re.Match) -> str:
        key = f"{m[1]}-{m[2]}"
        if key in numbers:
            raise ReportError(f"two captions are named {key!r}: names must be unique")
        counters[m[1]] += 1
        numbers[key] = counters[m[1]]
        return f'id="{key}"><b>{m[3]} {numbers[key]}.</b>'

    for box, key in _texts(nb):
        box[key] = _CAPTION.sub(caption, box[key])

    def number(kind: str, name: str) -> int:
        if f"{kind}-{name}" not in numbers:
            raise ReportError(f"the text refers to {KINDS[kind].lower()} {name!r}, which no "
                              "notebook shows with a caption")
        return numbers[f"{kind}-{name}"]

    for box, key in _texts(nb):
        box[key] = _MD_REF.sub(lambda m: f"[{m[1]} {number(m[2], m[3])}](#{m[2]}-{m[3]})",
                               box[key])
        box[key] = _HTML_REF.sub(
            lambda m: f'<a href="#{m[1]}-{m[2]}">{m[3]} {number(m[1], m[2])}</a>', box[key])
    return numbers


# ---------------------------------------------------------------------------- assembly


def title_page(data_line: str, checksum: str, seed: int, mode: str, synthetic: bool) -> str:
    """Title, the data by name and checksum, seed and date; the synthetic banner when it
    applies."""
    if synthetic:
        data_line = (
            '<div style="border:4px solid #c00;padding:1em;font-size:1.3em;color:#c00">'
            "<b>SYNTHETIC DATA — NOT A CLINICAL RESULT.</b> This report was built on the embedded "
            "synthetic fundus-like images, not on G1020. To build it on the real data, get G1020 "
            "(Kaggle data set \"glaucoma-datasets\", folder G1020) and run "
            "<code>make report DATA=/path/to/G1020</code> or set <code>GLAUCOMA_DATA</code>."
            "</div>"
        )
    built = dt.datetime.now().astimezone().strftime("%Y-%m-%d")
    return (f"# {REPORT_TITLE}\n\n{data_line}\n\nData checksum (sha256) `{checksum[:16]}…` · "
            f"seed {seed} · built {built} by `make report`, {mode} build. Every number is computed "
            "by that build from the data and the run records; the executed notebooks with their "
            "code are in `report/notebooks/`.")


def _place(notebooks: dict[str, nbformat.NotebookNode]) -> tuple[dict[str, list], list[str]]:
    """Which notebooks each part holds (unplaced ones join Results), and the appendix ones."""
    placed = {p for part in PARTS for p in part.notebooks} | set(APPENDIX_NOTEBOOKS) | {
        SUMMARY_NOTEBOOK}
    parts = {part.title: [p for p in part.notebooks if p in notebooks] for part in PARTS}
    parts["Results"] += [p for p in notebooks if p not in placed]
    return parts, [p for p in APPENDIX_NOTEBOOKS if p in notebooks]


def assemble(executed: list[Path], title: str, build_info: str) -> nbformat.NotebookNode:
    """One notebook in paper order from the executed notebooks; captions numbered."""
    notebooks = {prefix(p): nbformat.read(p, as_version=4) for p in executed}
    titles = {k: notebook_title(nb, k) for k, nb in notebooks.items()}
    cells = {k: shown_cells(nb) for k, nb in notebooks.items()}
    summary = cells.pop(SUMMARY_NOTEBOOK, [])
    tagged = {tag: [c for c in summary if tag in _tags(c)] for tag in PLACEMENT_TAGS}
    parts, appendix_notebooks = _place(cells)

    out = nbformat.v4.new_notebook()
    out.metadata = copy.deepcopy(next(iter(notebooks.values())).metadata) if notebooks else {}
    out.metadata.pop("papermill", None)
    out.cells.append(_markdown(title))
    out.cells += [demote(c, 1) for c in tagged["front"]]
    out.cells.append(_markdown(PAGE_BREAK))
    for number, part in enumerate(PARTS, 1):
        out.cells.append(_heading(1, f"{number}. {part.title}", f"part-{number}"))
        if part.tag:
            out.cells += [demote(c, 1) for c in tagged[part.tag]]
        for sub, key in enumerate(parts[part.title], 1):
            out.cells.append(_heading(2, f"{number}.{sub} {html.escape(titles[key])}",
                                      f"nb-{key}"))
            out.cells += [demote(c, 1) for c in cells[key] if "appendix" not in _tags(c)]
    out.cells.append(_heading(1, "References", "references"))
    out.cells += [demote(c, 1) for c in tagged["references"]]
    out.cells.append(_markdown(PAGE_BREAK))
    out.cells.append(_heading(1, "Appendices", "appendices"))
    letters = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    for key, nb_cells in cells.items():
        whole = key in appendix_notebooks
        detail = nb_cells if whole else [c for c in nb_cells if "appendix" in _tags(c)]
        if detail:
            heading = titles[key] if whole else f"Details: {titles[key]}"
            out.cells.append(_heading(2, f"{next(letters)}. {html.escape(heading)}",
                                      f"appendix-{key}"))
            out.cells += [demote(c, 1) for c in detail]
    out.cells.append(_heading(2, f"{next(letters)}. Build information", "build-information"))
    out.cells.append(_markdown(build_info))
    number_captions(out)
    return out


def export_html(nb: nbformat.NotebookNode, target: Path, resources_dir: Path) -> Path:
    """Self-contained HTML with code hidden (the executed notebooks keep it) and A4 print CSS."""
    from nbconvert import HTMLExporter  # deferred: heavy, and only the build needs it

    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
        embed_images=True,
    )
    resources = {"metadata": {"path": str(resources_dir), "name": REPORT_TITLE}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    target.write_text(body.replace("</head>", PRINT_CSS + "</head>", 1), encoding="utf-8")
    return target
