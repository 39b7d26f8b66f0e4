"""`make report`: run every numbered notebook with papermill, then write the paper and its
supplement, each as HTML and PDF.

Everything is built in report/.build-*/ and swapped in only when every notebook succeeded, so
a failing notebook leaves the previous report (and figures/, and the committed models, which the
notebooks write into the build folder too) untouched.

    python -m glaucoma_lib.report.build [--quick] [--data-dir D] [--seed S] [--out ROOT]

Exit codes: 0 built; 1 a notebook or the export failed, a sentence of the paper is no longer
supported by the results, or another build held the swap lock too
long (the previous outputs are left as they were); 2 an unusable argument or data path (nothing
was created).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import nbformat

from glaucoma_lib.data.loading import describe_data
from glaucoma_lib.files import write_json
from glaucoma_lib.paths import NOTEBOOKS_DIR, PROJECT_ROOT, WEIGHTS_DIR, shown
from glaucoma_lib.report import paper, supplement
from glaucoma_lib.report.build_order import ALONE, run_in_order
from glaucoma_lib.report.inputs import (
    MAX_JOBS,
    MAX_SEED,
    InputError,
    check_airogs,
    check_hygd,
    data_folder,
    report_folder,
    whole_number,
)
from glaucoma_lib.report.pdf import export_pdf
from glaucoma_lib.report.swap import ReportError, finish_swaps, swap_in
from glaucoma_lib.study.records import package_versions, runtime_info
from glaucoma_lib.tasks import ONE_BLAS_THREAD, default_jobs, stop_with_children

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
KERNEL = "python3"
SYNTHETIC_OUT = Path("report") / "synthetic"  # under the project, for synthetic builds
EXIT_FAILED, EXIT_INPUT = 1, 2  # a step of the build failed; an argument or data path is unusable


@dataclass
class BuildOptions:
    """What one build runs on and where it writes."""

    quick: bool = False
    full: bool = False  # also the positive control's whole-image CNN cross-validation
    data_dir: str | None = None
    seed: int = 0
    out: Path = PROJECT_ROOT
    notebooks_dir: Path = NOTEBOOKS_DIR
    pdf: bool = True
    airogs_dir: str | None = None
    hygd_dir: str | None = None
    jobs: int = 0  # worker processes for experiment tasks; 0: every core
    weights_dir: Path = WEIGHTS_DIR  # where the swap puts the models the notebooks wrote


@dataclass
class BuildResult:
    """Where the outputs landed, how long each notebook took, and how the PDF went."""

    html: Path  # the paper
    pdf: Path | None
    pdf_message: str
    supplement: Path
    warnings: list[str]
    notebooks: list[Path]
    figures: list[Path]
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)


def numbered_notebooks(notebooks_dir: Path) -> list[Path]:
    """notebooks/NN_name.ipynb in numeric order; nothing else is part of the report."""
    found = sorted(Path(notebooks_dir).glob(NOTEBOOK_GLOB))
    if not found:
        raise ReportError(f"no notebooks matching {NOTEBOOK_GLOB} in {notebooks_dir}")
    return found


def offered_parameters(options: BuildOptions, data_dir: Path) -> dict:
    """The parameters the build offers every notebook; each gets those it declares. ``jobs``
    reaches the notebooks only this way (0: every core)."""
    return {"data_dir": str(data_dir), "seed": options.seed, "quick": options.quick,
            "full": options.full, "airogs_dir": options.airogs_dir,
            "hygd_dir": options.hygd_dir, "jobs": options.jobs}


def parameters_for(notebook: Path, offered: dict) -> dict:
    """Only the offered parameters that the notebook's parameters cell declares."""
    import papermill  # deferred: heavy, and only the build needs it

    declared = papermill.inspect_notebook(str(notebook))
    return {name: value for name, value in offered.items() if name in declared}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Exactly ``values`` as the environment of the kernels papermill starts, then the old one
    back. Exactly: a reused pool worker still holds the environment it was started with, and a
    variable the build no longer has (say AIROGS_DATA) must not reach the kernel from there."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def quiet_kernel_profile(build: Path) -> Path:
    """An IPython folder whose kernels log errors only: the build log shows progress and
    failures, not ipykernel's warnings (e.g. "running over TCP without encryption" on a
    loopback kernel, or asyncio's "Task was destroyed but it is pending!" when a kernel shuts
    down mid-message); it also keeps a user's IPython start-up files out of the build."""
    folder = build / ".ipython"
    (folder / "profile_default").mkdir(parents=True, exist_ok=True)
    (folder / "profile_default" / "ipython_kernel_config.py").write_text(
        'import logging\n'
        'logging.getLogger("asyncio").setLevel(logging.CRITICAL)\n'
        'c.IPKernelApp.log_level = "ERROR"\n')
    return folder


def _cell_summary(source: str) -> str:
    first = next((line for line in source.splitlines() if line.strip()), "")
    return first if len(first) <= 80 else first[:77] + "..."


def execute_notebook(notebook: Path, output: Path, parameters: dict, cwd: Path,
                     progress: bool = True) -> tuple[float, float]:
    """Run one notebook with papermill; (wall seconds, CPU seconds). A failure names the
    notebook and the cell.

    CPU seconds are those of the kernel and every process it waited for (experiment workers):
    above the wall seconds, the notebook kept more than one core busy.
    """
    import papermill  # deferred: heavy, and only the build needs it
    from papermill.exceptions import PapermillExecutionError

    print(f"\n== {notebook.name}  parameters: {parameters}", flush=True)
    start, cpu_start = time.perf_counter(), _children_cpu_seconds()
    try:
        papermill.execute_notebook(
            str(notebook), str(output), parameters=parameters, kernel_name=KERNEL,
            progress_bar=progress, cwd=str(cwd),
        )
    except PapermillExecutionError as err:
        raise ReportError(
            f"notebook {notebook.name} failed in cell {err.cell_index} "
            f"(execution count {err.exec_count}: {_cell_summary(err.source)!r}): "
            f"{err.ename}: {err.evalue}\nThe executed copy with the traceback is {output}; "
            "the previous report was left untouched."
        ) from err
    seconds, cpu = time.perf_counter() - start, _children_cpu_seconds() - cpu_start
    print(f"== {notebook.name} done in {seconds:.1f} s ({cpu:.1f} CPU-s)", flush=True)
    return seconds, cpu


def _children_cpu_seconds() -> float:
    """User + system seconds of this process's finished (waited-for) child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _execute_into(notebook: Path, build: Path, offered: dict, cwd: Path, progress: bool,
                  environment: dict[str, str]) -> tuple[float, float]:
    """execute_notebook into the build folder (module level, so worker processes can run it),
    its kernel started with the build's whole ``environment`` (set here, in whichever process
    runs the notebook: a reused pool worker keeps the environment it was started with).

    Kernels get one BLAS thread, except a notebook that runs ALONE (the benchmark, which
    measures threads): the cores are used by notebooks side by side and experiment workers.
    A multithreaded BLAS beside them spent CPU waiting (notebook 08 took 229 CPU-s beside
    notebook 04's training, ~110 alone), and the numbers no longer depend on the core count.
    """
    threads = {} if notebook.stem in ALONE else ONE_BLAS_THREAD
    with _environment({**environment, **threads}):
        return execute_notebook(notebook, build / "notebooks" / notebook.name,
                                parameters_for(notebook, offered), cwd, progress)


def build_mode(options: BuildOptions) -> str:
    if options.quick:
        return "quick (tiny subset, 1-2 epochs: a pipeline check, not results)"
    return "full (with the CNN cross-validation)" if options.full else "standard"


def build_information(options: BuildOptions, runtime: dict[str, Any],
                      seconds: dict[str, float], cpu_seconds: dict[str, float], wall: float,
                      slots: int, data_line: str, checksum: str) -> str:
    """The last appendix: data, seed, machine (records.runtime_info), package versions and each
    notebook's seconds."""
    rows = [("Data", data_line), ("Data checksum (sha256)", f"`{checksum}`"),
            ("Seed", str(options.seed)), ("Build mode", build_mode(options)),
            ("Experiment workers (jobs)", str(options.jobs or runtime["cpu_count"])),
            ("CPU", runtime["cpu"]), ("CPU cores", str(runtime["cpu_count"])),
            ("BLAS", runtime["blas"]),
            ("BLAS threads", f"1 per notebook kernel; {runtime['blas_threads']} for the "
                             f"benchmark ({', '.join(sorted(ALONE))})"),
            *package_versions().items()]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    times = "\n".join(f"| {name} | {s:.1f} | {cpu_seconds[name]:.1f} |"
                      for name, s in seconds.items())
    return (f"| | |\n|---|---|\n{table}\n\n| notebook | seconds | CPU seconds |\n"
            f"|---|---|---|\n{times}\n| all notebooks, wall clock, up to {slots} at a time "
            f"| {wall:.1f} | {sum(cpu_seconds.values()):.1f} |\n\n"
            "Rebuild with `make report` "
            "(`make report QUICK=1` for a pipeline check).")


def machine_info(runtime: dict[str, Any]) -> dict[str, Any]:
    """What the build's seconds were measured on (from records.runtime_info): the same notebooks
    take about twice as long on some 2-core machines as on others."""
    return {key: runtime[key] for key in ("cpu", "cpu_count", "blas")}


def output_root(options: BuildOptions, synthetic: bool) -> Path:
    """Where a build writes report/ and figures/: a synthetic build of the project never lands on
    the committed G1020 report, it goes to report/synthetic/ instead."""
    out = Path(options.out)
    return out / SYNTHETIC_OUT if synthetic and out.resolve() == PROJECT_ROOT else out


def build_report(options: BuildOptions) -> BuildResult:
    """Execute every numbered notebook, combine, export HTML + PDF, then swap the result in."""
    notebooks = numbered_notebooks(options.notebooks_dir)
    # inputs checked before anything is created (InputError)
    data_dir, synthetic, checksum = data_folder(options.data_dir)
    check_airogs(options.airogs_dir)
    check_hygd(options.hygd_dir)
    out = output_root(options, synthetic)
    slots = default_jobs(options.jobs or None)
    report_dir, figures_dir = report_folder(out), out / "figures"
    finish_swaps(report_dir, figures_dir, options.weights_dir)  # a crashed swap's outputs back
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    build = Path(tempfile.mkdtemp(prefix=f".build-{stamp}-", dir=report_dir))
    for folder in ("notebooks", "figures", "weights"):
        (build / folder).mkdir()
    print(f"Building the report in {shown(build)} on {describe_data(data_dir)}", flush=True)
    environment = {**os.environ, "GLAUCOMA_FIGURES_DIR": str(build / "figures"),
                   "GLAUCOMA_TABLES_DIR": str(build / "tables"),
                   "GLAUCOMA_WEIGHTS_DIR": str(build / "weights"),
                   "IPYTHONDIR": str(quiet_kernel_profile(build))}
    run = functools.partial(_execute_into, build=build,
                            offered=offered_parameters(options, data_dir),
                            cwd=options.notebooks_dir, progress=slots == 1,
                            environment=environment)
    started = time.perf_counter()
    timings = run_in_order(notebooks, run, slots)
    seconds = {nb.name: wall_s for nb, (wall_s, _) in timings.items()}
    cpu_seconds = {nb.name: round(cpu, 1) for nb, (_, cpu) in timings.items()}
    wall = round(time.perf_counter() - started, 1)
    executed = [build / "notebooks" / nb.name for nb in notebooks]
    data_line = describe_data(data_dir).removeprefix("data: ")
    runtime = runtime_info()
    paper_html, rendered = paper.write_paper(build, options.quick, synthetic)
    combined = supplement.assemble(
        executed, supplement.title_page(f"**Data:** {data_line}", checksum, options.seed,
                                        build_mode(options), synthetic),
        build_information(options, runtime, seconds, cpu_seconds, wall, slots, data_line,
                          checksum))
    nbformat.write(combined, build / "supplement.ipynb")
    supplement_html = supplement.export_html(combined, build / "supplement.html",
                                             options.notebooks_dir)
    pdf_path, pdf_message = None, "PDF not requested"
    if options.pdf:
        pdf_path, pdf_message = export_pdf(paper_html, build / "paper.pdf")
        if pdf_path:
            _, pdf_message = export_pdf(supplement_html, build / "supplement.pdf")
    write_json(build / "build_info.json", {
        "data": describe_data(data_dir), "synthetic": synthetic, "checksum": checksum,
        "seed": options.seed, "quick": options.quick, "full": options.full,
        "mode": build_mode(options), "jobs": options.jobs, "notebooks_at_once": slots,
        "seconds": seconds, "total_seconds": wall, "cpu_seconds": cpu_seconds,
        "machine": machine_info(runtime), "pdf": pdf_message,
    })
    swap_in(build, report_dir, figures_dir, options.weights_dir)
    return BuildResult(
        html=report_dir / "paper.html",
        pdf=report_dir / "paper.pdf" if pdf_path else None,
        pdf_message=pdf_message,
        supplement=report_dir / "supplement.html",
        warnings=rendered.warnings,
        notebooks=[report_dir / "notebooks" / p.name for p in notebooks],
        figures=sorted(figures_dir.glob("*.png")),
        seconds=seconds,
        cpu_seconds=cpu_seconds,
    )


class _Parser(argparse.ArgumentParser):
    """A usage mistake is one line (and exit code 2), not the usage block."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{message} (see --help)")


def parse_args(argv: list[str] | None = None) -> BuildOptions:
    """The options; InputError for an unusable argument."""
    parser = _Parser(
        prog="python -m glaucoma_lib.report.build", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--full", action="store_true",
                        help="also cross-validate the whole-image CNNs of the positive control "
                             "(about 25 minutes more on 2 cores)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny subset and 1-2 epochs: checks the pipeline in under 2 minutes")
    parser.add_argument("--data-dir", default=None,
                        help="G1020 folder (default: $GLAUCOMA_DATA, data/G1020, else synthetic)")
    parser.add_argument("--airogs-dir", default=None,
                        help="EyePACS-AIROGS-light folder (default: $AIROGS_DATA, "
                             "data/EyePACS-AIROGS-light, else the positive control is skipped)")
    parser.add_argument("--hygd-dir", default=None,
                        help="HYGD folder (default: $HYGD_DATA, data/HYGD, else its columns of "
                             "the where-is-the-signal study are skipped)")
    parser.add_argument("--seed", type=whole_number(0, MAX_SEED), default=0,
                        help="seed passed to every notebook")
    parser.add_argument("--jobs", type=whole_number(0, MAX_JOBS), default=0,
                        help="notebooks side by side and worker processes for experiment tasks, "
                             "passed to every notebook as its `jobs` parameter (default: every "
                             "core)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT,
                        help="output root: writes <out>/report/ and <out>/figures/")
    parser.add_argument("--notebooks-dir", type=Path, default=NOTEBOOKS_DIR,
                        help=argparse.SUPPRESS)
    parser.add_argument("--no-pdf", dest="pdf", action="store_false", help="skip the PDF export")
    return BuildOptions(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    """The build; exit code 0, 1 when a notebook failed, 2 for unusable input (nothing
    created), 128 + N when stopped by signal N (SIGTERM, SIGINT, SIGHUP), after killing every
    kernel and worker it started."""
    start = time.perf_counter()
    try:
        options = parse_args(argv)
        with stop_with_children():
            result = build_report(options)
    except InputError as err:
        print(f"report: {err}", file=sys.stderr)
        return EXIT_INPUT
    except ReportError as err:
        print(f"\nREPORT FAILED: {err}", file=sys.stderr)
        return EXIT_FAILED
    print(f"\nReport built in {time.perf_counter() - start:.0f} s")
    print(f"  paper: {shown(result.html)}, PDF {shown(result.pdf) if result.pdf else '-'}  "
          f"({result.pdf_message})")
    print(f"  supplement: {shown(result.supplement)} (and its PDF)")
    for warning in result.warnings:
        print(f"  not supported by this build: {warning}")
    print(f"  figures: {len(result.figures)} PNG files in "
          f"{shown(result.html.parent.parent / 'figures')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
