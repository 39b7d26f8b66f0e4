"""`make report`: run every numbered notebook with papermill and export ONE HTML + PDF report.

Everything is built in report/.build-*/ and swapped in only when every notebook succeeded, so
a failing notebook leaves the previous report (and figures/) untouched.

    python -m glaucoma_lib.report [--quick] [--data-dir D] [--seed S] [--out ROOT]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import html
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from glaucoma_lib.data import data_checksum, describe_data, find_data_dir
from glaucoma_lib.files import write_json
from glaucoma_lib.paths import NOTEBOOKS_DIR, PROJECT_ROOT, shown
from glaucoma_lib.pdf import export_pdf
from glaucoma_lib.records import package_versions, runtime_info
from glaucoma_lib.swap import ReportError, swap_in

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
KERNEL = "python3"
REPORT_TITLE = "Glaucoma screening from fundus photographs: an open reproduction"
SYNTHETIC_OUT = Path("report") / "synthetic"  # under the project, for synthetic builds
_PAGE_BREAK = '<div style="page-break-after: always"></div>'


@dataclass
class BuildOptions:
    """What one build runs on and where it writes."""

    quick: bool = False
    data_dir: str | None = None
    seed: int = 0
    out: Path = PROJECT_ROOT
    notebooks_dir: Path = NOTEBOOKS_DIR
    pdf: bool = True
    airogs_dir: str | None = None
    jobs: int = 0  # worker processes for experiment tasks; 0: every core


@dataclass
class BuildResult:
    """Where the outputs landed, how long each notebook took, and how the PDF went."""

    html: Path
    pdf: Path | None
    pdf_message: str
    notebooks: list[Path]
    figures: list[Path]
    seconds: dict[str, float] = field(default_factory=dict)


def numbered_notebooks(notebooks_dir: Path) -> list[Path]:
    """notebooks/NN_name.ipynb in numeric order; nothing else is part of the report."""
    found = sorted(Path(notebooks_dir).glob(NOTEBOOK_GLOB))
    if not found:
        raise ReportError(f"no notebooks matching {NOTEBOOK_GLOB} in {notebooks_dir}")
    return found


def parameters_for(notebook: Path, offered: dict) -> dict:
    """Only the offered parameters that the notebook's parameters cell declares."""
    import papermill  # deferred: heavy, and only the build needs it

    declared = papermill.inspect_notebook(str(notebook))
    return {name: value for name, value in offered.items() if name in declared}


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the kernels papermill starts, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _cell_summary(source: str) -> str:
    first = next((line for line in source.splitlines() if line.strip()), "")
    return first if len(first) <= 80 else first[:77] + "..."


def execute_notebook(notebook: Path, output: Path, parameters: dict, cwd: Path) -> float:
    """Run one notebook with papermill; a failure names the notebook and the cell."""
    import papermill  # deferred: heavy, and only the build needs it
    from papermill.exceptions import PapermillExecutionError

    print(f"\n== {notebook.name}  parameters: {parameters}", flush=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook), str(output), parameters=parameters, kernel_name=KERNEL,
            progress_bar=True, cwd=str(cwd),
        )
    except PapermillExecutionError as err:
        raise ReportError(
            f"notebook {notebook.name} failed in cell {err.cell_index} "
            f"(execution count {err.exec_count}: {_cell_summary(err.source)!r}): "
            f"{err.ename}: {err.evalue}\nThe executed copy with the traceback is {output}; "
            "the previous report was left untouched."
        ) from err
    seconds = time.perf_counter() - start
    print(f"== {notebook.name} done in {seconds:.1f} s", flush=True)
    return seconds


def _notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _anchor(notebook_name: str) -> str:
    return "nb-" + Path(notebook_name).stem.replace("_", "-")


def _markdown(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text)


def title_page(
    data_dir: Path, synthetic: bool, checksum: str, options: BuildOptions, sections: list[tuple]
) -> str:
    """Markdown for the first page: data, checksum, seed, versions, threads/BLAS, date, contents."""
    runtime = runtime_info()
    if synthetic:
        data_line = (
            '<div style="border:4px solid #c00;padding:1em;font-size:1.3em;color:#c00">'
            "<b>SYNTHETIC DATA — NOT A CLINICAL RESULT.</b> This report was built on the embedded "
            "synthetic fundus-like images, not on G1020. To build it on the real data, get G1020 "
            "(Kaggle data set \"glaucoma-datasets\", folder G1020) and run "
            "<code>make report DATA=/path/to/G1020</code> or set <code>GLAUCOMA_DATA</code>."
            "</div>"
        )
    else:
        named = describe_data(data_dir).removeprefix("data: ")
        data_line = f"**Data:** {named} (Bajwa et al. 2020)."
    versions = package_versions()
    version_rows = "\n".join(f"| {name} | {version} |" for name, version in versions.items())
    toc = "\n".join(
        f"{i}. [{html.escape(title)}](#{anchor})" for i, (title, anchor) in enumerate(sections, 1)
    )
    mode = "QUICK (tiny subset, 1-2 epochs: for checking the pipeline, not for reading results)"
    return f"""# {REPORT_TITLE}

{data_line}

| | |
|---|---|
| Data checksum (sha256) | `{checksum}` |
| Seed | {options.seed} |
| Build mode | {mode if options.quick else "full"} |
| Built | {dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")} |
| CPU cores | {runtime["cpu_count"]} |
| BLAS | {runtime["blas"]} |
| BLAS threads | {runtime["blas_threads"]} |

**Package versions**

| package | version |
|---|---|
{version_rows}

## Contents

{toc}

{_PAGE_BREAK}
"""


def _report_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """Cells as clinicians see them: no parameter cells, no stderr noise (progress bars)."""
    cells = []
    for cell in copy.deepcopy(nb.cells):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & {"parameters", "injected-parameters", "remove-cell", "hide-in-report"}:
            continue
        if cell.cell_type == "code":
            cell.outputs = [
                o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")
            ]
            if not cell.outputs:
                continue
        cells.append(cell)
    return cells


def combine(
    executed: list[Path], data_dir: Path, synthetic: bool, checksum: str,
    options: BuildOptions, seconds: dict[str, float],
) -> nbformat.NotebookNode:
    """One notebook: title page, then each executed notebook as a section, then build timings."""
    notebooks = [nbformat.read(path, as_version=4) for path in executed]
    sections = [(_notebook_title(nb, p.stem), _anchor(p.name)) for nb, p in
                zip(notebooks, executed, strict=True)]
    sections.append(("Build information", "build-information"))
    combined = nbformat.v4.new_notebook()
    combined.metadata = copy.deepcopy(notebooks[0].metadata) if notebooks else {}
    combined.metadata.pop("papermill", None)
    combined.cells.append(_markdown(title_page(data_dir, synthetic, checksum, options, sections)))
    for nb, path in zip(notebooks, executed, strict=True):
        combined.cells.append(_markdown(f'<a id="{_anchor(path.name)}"></a>'))
        combined.cells.extend(_report_cells(nb))
        combined.cells.append(_markdown(_PAGE_BREAK))
    rows = "\n".join(f"| {name} | {s:.1f} |" for name, s in seconds.items())
    combined.cells.append(_markdown(
        '<a id="build-information"></a>\n\n## Build information\n\n'
        "Every section above is an executed notebook; the copies with their code are in "
        "`report/notebooks/`. Rebuild with `make report` (`make report QUICK=1` for a pipeline "
        f"check).\n\n| notebook | seconds |\n|---|---|\n{rows}\n"
    ))
    return combined


def export_html(nb: nbformat.NotebookNode, target: Path, resources_dir: Path) -> Path:
    """Self-contained HTML with code input hidden (the executed notebooks keep the code)."""
    from nbconvert import HTMLExporter  # deferred: heavy, and only the build needs it

    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
        embed_images=True,
    )
    resources = {"metadata": {"path": str(resources_dir), "name": REPORT_TITLE}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    target.write_text(body, encoding="utf-8")
    return target


def output_root(options: BuildOptions, synthetic: bool) -> Path:
    """Where a build writes report/ and figures/: a synthetic build of the project never lands on
    the committed G1020 report, it goes to report/synthetic/ instead."""
    out = Path(options.out)
    return out / SYNTHETIC_OUT if synthetic and out.resolve() == PROJECT_ROOT else out


def build_report(options: BuildOptions) -> BuildResult:
    """Execute every numbered notebook, combine, export HTML + PDF, then swap the result in."""
    notebooks = numbered_notebooks(options.notebooks_dir)
    data_dir, synthetic = find_data_dir(options.data_dir)
    out = output_root(options, synthetic)
    report_dir, figures_dir = out / "report", out / "figures"
    report_dir.mkdir(parents=True, exist_ok=True)
    checksum = data_checksum(data_dir)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    build = Path(tempfile.mkdtemp(prefix=f".build-{stamp}-", dir=report_dir))
    (build / "notebooks").mkdir()
    (build / "figures").mkdir()
    print(f"Building the report in {shown(build)} on {describe_data(data_dir)}", flush=True)
    offered = {"data_dir": str(data_dir), "seed": options.seed, "quick": options.quick,
               "airogs_dir": options.airogs_dir, "jobs": options.jobs}
    seconds: dict[str, float] = {}
    executed = []
    with _environment(GLAUCOMA_FIGURES_DIR=str(build / "figures")):
        for notebook in notebooks:
            output = build / "notebooks" / notebook.name
            seconds[notebook.name] = execute_notebook(
                notebook, output, parameters_for(notebook, offered), options.notebooks_dir
            )
            executed.append(output)
    combined = combine(executed, data_dir, synthetic, checksum, options, seconds)
    nbformat.write(combined, build / "report.ipynb")
    html_path = export_html(combined, build / "report.html", options.notebooks_dir)
    pdf_path, pdf_message = (
        export_pdf(html_path, build / "report.pdf") if options.pdf else (None, "PDF not requested")
    )
    write_json(build / "build_info.json", {
        "data": describe_data(data_dir), "synthetic": synthetic, "checksum": checksum,
        "seed": options.seed, "quick": options.quick, "jobs": options.jobs, "seconds": seconds,
        "total_seconds": round(sum(seconds.values()), 1), "pdf": pdf_message,
    })
    swap_in(build, report_dir, figures_dir)
    return BuildResult(
        html=report_dir / "report.html",
        pdf=report_dir / "report.pdf" if pdf_path else None,
        pdf_message=pdf_message,
        notebooks=[report_dir / "notebooks" / p.name for p in notebooks],
        figures=sorted(figures_dir.glob("*.png")),
        seconds=seconds,
    )


def parse_args(argv: list[str] | None = None) -> BuildOptions:
    parser = argparse.ArgumentParser(
        prog="python -m glaucoma_lib.report", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true",
                        help="tiny subset and 1-2 epochs: checks the pipeline in under 2 minutes")
    parser.add_argument("--data-dir", default=None,
                        help="G1020 folder (default: $GLAUCOMA_DATA, data/G1020, else synthetic)")
    parser.add_argument("--airogs-dir", default=None,
                        help="EyePACS-AIROGS-light folder (default: $AIROGS_DATA, "
                             "data/EyePACS-AIROGS-light, else the positive control is skipped)")
    parser.add_argument("--seed", type=int, default=0, help="seed passed to every notebook")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", 0)),
                        help="worker processes for experiment tasks ($JOBS, else all cores)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT,
                        help="output root: writes <out>/report/ and <out>/figures/")
    parser.add_argument("--notebooks-dir", type=Path, default=NOTEBOOKS_DIR,
                        help=argparse.SUPPRESS)
    parser.add_argument("--no-pdf", dest="pdf", action="store_false", help="skip the PDF export")
    args = parser.parse_args(argv)
    return BuildOptions(**vars(args))


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    start = time.perf_counter()
    try:
        result = build_report(options)
    except ReportError as err:
        print(f"\nREPORT FAILED: {err}", file=sys.stderr)
        return 1
    print(f"\nReport built in {time.perf_counter() - start:.0f} s")
    print(f"  HTML: {shown(result.html)}")
    print(f"  PDF:  {shown(result.pdf) if result.pdf else '-'}  ({result.pdf_message})")
    print(f"  figures: {len(result.figures)} PNG files in "
          f"{shown(result.html.parent.parent / 'figures')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
