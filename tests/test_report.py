"""The report builder: parameters passed through, one combined HTML/PDF, failures leave the old one.

Stub notebooks in tmp_path test the machinery in seconds; the slow test runs the real notebooks
end to end with --quick into a temporary output root.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from report_checks import check_supplement

from glaucoma_lib import tasks
from glaucoma_lib.models.kinds import load_model
from glaucoma_lib.paths import WEIGHTS_DIR
from glaucoma_lib.report import build as report
from glaucoma_lib.report import pdf, supplement
from glaucoma_lib.study.records import runtime_info

PROJECT = Path(__file__).resolve().parent.parent


def _notebook(path: Path, parameters: str, *body: str, title: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}"), params]
    nb.cells += [nbformat.v4.new_code_cell(src) for src in body]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def stubs(tmp_path):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    _notebook(
        nb_dir / "01_first.ipynb",
        "seed = 1\nquick = False",
        "import matplotlib.pyplot as plt\nfrom glaucoma_lib.report import plots\n"
        "fig, ax = plt.subplots()\nax.plot([0, seed])\nplots.save_figure(fig, 'stub_line')",
        "print(f'SEED-IS-{seed} QUICK-IS-{quick}')",
        "import numpy\nfrom threadpoolctl import threadpool_info\n"
        "print('BLAS-THREADS-%d' % max(d['num_threads'] for d in threadpool_info()\n"
        "                              if d['user_api'] == 'blas'))",
        title="First stub section",
    )
    _notebook(nb_dir / "02_second.ipynb", "x = 1", "print('SECRET_CODE' [:6])",
              title="Second stub section")
    _values_stub(nb_dir)
    (nb_dir / "notes.ipynb").write_text("not a numbered notebook, never run")
    return nb_dir


def _values_stub(nb_dir):
    """What notebook 11 leaves for the paper: its named values (none here)."""
    _notebook(nb_dir / "09_values.ipynb", "x = 1",
              "from glaucoma_lib.files import write_json\nfrom glaucoma_lib.paths import "
              "tables_dir\nwrite_json(tables_dir() / 'paper_values.json', {'synthetic': True, "
              "'values': {'data': {}}})", title="The paper's values (stub)")


def _options(stubs, tmp_path, **kw):
    # jobs=1: the notebooks run in this process, in order (worker processes are
    # test_build_order's and the slow end-to-end build's), which saves a worker's imports
    defaults = dict(quick=True, seed=7, out=tmp_path / "out", notebooks_dir=stubs,
                    data_dir=os.environ.get("GLAUCOMA_DATA"), pdf=False, jobs=1)
    defaults.update(kw)
    return report.BuildOptions(**defaults)


def test_only_declared_parameters_are_passed(stubs):
    offered = {"data_dir": "/d", "seed": 3, "quick": True}
    assert report.parameters_for(stubs / "01_first.ipynb", offered) == {"seed": 3, "quick": True}
    assert report.parameters_for(stubs / "02_second.ipynb", offered) == {}


def test_numbered_notebooks_in_order(stubs, tmp_path):
    assert [p.name for p in report.numbered_notebooks(stubs)] == [
        "01_first.ipynb", "02_second.ipynb", "09_values.ipynb"]
    with pytest.raises(report.ReportError, match="no notebooks"):
        report.numbered_notebooks(tmp_path)


def test_stub_build_combines_hides_code_and_swaps_in(stubs, tmp_path):
    result = report.build_report(_options(stubs, tmp_path))
    out = tmp_path / "out"
    page = result.supplement.read_text()
    assert "First stub section" in page and "Second stub section" in page
    assert "SEED-IS-7 QUICK-IS-True" in page  # parameters reached the kernel
    assert "BLAS-THREADS-1" in page  # so did the one-BLAS-thread setting
    assert "SECRET" in page and "SECRET_CODE" not in page  # output shown, code input hidden
    assert "Data checksum" in page and "Build information" in page and "BLAS" in page
    assert 'src="data:image/png;base64' in page  # self-contained
    assert (out / "figures" / "stub_line.png").is_file()
    assert sorted(p.name for p in (out / "report" / "notebooks").iterdir()) == [
        "01_first.ipynb", "02_second.ipynb", "09_values.ipynb"]
    assert not list((out / "report").glob(".build-*"))
    assert not list((out / "report").glob(".old-*"))
    assert result.pdf is None and "not requested" in result.pdf_message
    info = json.loads((out / "report" / "build_info.json").read_text())
    assert info["cpu_seconds"] == result.cpu_seconds
    assert sorted(info["cpu_seconds"]) == ["01_first.ipynb", "02_second.ipynb", "09_values.ipynb"]
    assert "CPU seconds" in page
    machine = report.machine_info(runtime_info())
    assert info["machine"] == machine and info["machine"]["cpu_count"] >= 1
    supplement_nb = (out / "report" / "supplement.ipynb").read_text()
    assert f"| CPU | {info['machine']['cpu']} |" in supplement_nb


def _model_stubs(nb_dir, *more):
    """Notebook 01 writes the final model as notebook 06 does; 02 reads the default model."""
    nb_dir.mkdir()
    _notebook(nb_dir / "01_writes.ipynb", "data_dir = None\nseed = 1",
              "from glaucoma_lib.models.kinds import load_model\n"
              "from glaucoma_lib.study import experiments\n"
              "experiments.export_final(load_model(), data_dir, extra={'stub_seed': seed})",
              title="Writes the final model")
    _notebook(nb_dir / "02_reads.ipynb", "x = 1",
              "from glaucoma_lib.models.kinds import load_model\n"
              "print('FINAL-SEED-%s' % load_model().metadata.get('stub_seed'))",
              title="Reads the final model")
    for k, body in enumerate(more, start=3):
        _notebook(nb_dir / f"0{k}_more.ipynb", "x = 1", body, title="More")
    _values_stub(nb_dir)
    return nb_dir


def _committed_models(tmp_path):
    """A copy of the committed models to build against, and the package's own bytes."""
    weights = tmp_path / "weights"
    shutil.copytree(WEIGHTS_DIR, weights)
    return weights, {p.name: p.read_bytes() for p in WEIGHTS_DIR.glob("*.npz")}


@pytest.mark.slow
def test_the_build_puts_its_final_model_in_place_with_the_report(tmp_path):
    weights, package = _committed_models(tmp_path)
    notebooks = _model_stubs(tmp_path / "notebooks")
    result = report.build_report(_options(notebooks, tmp_path, weights_dir=weights))
    assert "FINAL-SEED-7" in result.supplement.read_text()  # notebook 02 read the build's model
    assert load_model(weights / "final.npz").metadata["stub_seed"] == 7
    assert (weights / "airogs.npz").read_bytes() == package["airogs.npz"]
    assert {p.name: p.read_bytes() for p in WEIGHTS_DIR.glob("*.npz")} == package


@pytest.mark.slow
def test_a_failed_build_leaves_the_committed_models_untouched(tmp_path):
    weights, package = _committed_models(tmp_path)
    notebooks = _model_stubs(tmp_path / "notebooks", "raise RuntimeError('after the model')")
    with pytest.raises(report.ReportError, match="after the model"):
        report.build_report(_options(notebooks, tmp_path, weights_dir=weights))
    assert {p.name: p.read_bytes() for p in weights.glob("*.npz")} == package
    assert {p.name: p.read_bytes() for p in WEIGHTS_DIR.glob("*.npz")} == package


def test_kernels_get_one_blas_thread_unless_their_notebook_runs_alone(tmp_path, monkeypatch):
    seen = {}

    def execute(notebook, *args):
        seen[notebook.stem] = os.environ.get("OPENBLAS_NUM_THREADS")
        return 0.0, 0.0

    monkeypatch.setattr(report, "execute_notebook", execute)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    for stem in ("04_training", "03_numpy_cnn"):
        notebook = _notebook(tmp_path / f"{stem}.ipynb", "x = 1", title=stem)
        report._execute_into(notebook, tmp_path, {}, tmp_path, progress=False,
                             environment=dict(os.environ))
    assert "03_numpy_cnn" in report.ALONE
    assert seen == {"04_training": "1", "03_numpy_cnn": "2"}
    assert os.environ["OPENBLAS_NUM_THREADS"] == "2"  # restored after the notebook


def test_a_kernel_gets_exactly_the_build_environment_even_in_a_reused_worker(tmp_path,
                                                                             monkeypatch):
    """A variable the build does not have (the worker process still does) never reaches the
    kernel: a stale AIROGS_DATA once made a build without the control data run it anyway."""
    seen = {}

    def execute(notebook, *args):
        seen.update(os.environ)
        return 0.0, 0.0

    monkeypatch.setattr(report, "execute_notebook", execute)
    monkeypatch.setenv("AIROGS_DATA", "/stale/in/this/worker")
    notebook = _notebook(tmp_path / "08_positive_control.ipynb", "x = 1", title="control")
    build_environment = {k: v for k, v in os.environ.items() if k != "AIROGS_DATA"}
    report._execute_into(notebook, tmp_path, {}, tmp_path, progress=False,
                         environment={**build_environment, "GLAUCOMA_MODELS_DIR": "/m"})
    assert "AIROGS_DATA" not in seen and seen["GLAUCOMA_MODELS_DIR"] == "/m"
    assert os.environ["AIROGS_DATA"] == "/stale/in/this/worker"  # the worker's own, restored


def test_cpu_seconds_count_the_processes_a_notebook_waits_for(tmp_path):
    """Two child processes each burning 1 CPU-s side by side: about 2 CPU-s in ~1 s."""
    burn = ("import subprocess, sys\n"
            "code = 'import time\\nend = time.process_time() + 1\\n"
            "while time.process_time() < end: pass'\n"
            "children = [subprocess.Popen([sys.executable, '-c', code]) for _ in range(2)]\n"
            "assert [c.wait() for c in children] == [0, 0]")
    notebook = _notebook(tmp_path / "01_busy.ipynb", "x = 1", burn, title="Busy")
    seconds, cpu = report.execute_notebook(notebook, tmp_path / "out.ipynb", {}, tmp_path,
                                           progress=False)
    assert cpu >= 2.0
    assert seconds >= 1.0


@pytest.mark.slow
def test_failing_notebook_names_cell_and_keeps_old_report(stubs, tmp_path):
    report.build_report(_options(stubs, tmp_path))
    out = tmp_path / "out"
    before = (out / "report" / "paper.html").read_bytes()
    _notebook(stubs / "03_broken.ipynb", "y = 0", "z = 1", "1 / y", title="Broken")
    with pytest.raises(report.ReportError) as err:
        report.build_report(_options(stubs, tmp_path))
    message = str(err.value)
    assert "03_broken.ipynb" in message and "ZeroDivisionError" in message
    assert "'1 / y'" in message and "cell" in message
    assert (out / "report" / "paper.html").read_bytes() == before
    assert (out / "figures" / "stub_line.png").is_file()


@pytest.mark.slow
def test_cli_reports_failure_with_exit_code(stubs, tmp_path, capsys):
    _notebook(stubs / "03_broken.ipynb", "y = 0", "raise RuntimeError('boom')", title="Broken")
    argv = ["--out", str(tmp_path / "out"), "--notebooks-dir", str(stubs), "--no-pdf"]
    assert report.main(argv) == 1
    assert "03_broken.ipynb" in capsys.readouterr().err


def test_pdf_export_with_browser(tmp_path):
    if pdf.find_browser() is None:
        pytest.skip("no Chromium/Chrome on this machine: PDF export not checked "
                    "(Debian: apt-get install chromium)")
    html_path = tmp_path / "r.html"
    html_path.write_text("<html><body><h1>Hello PDF</h1></body></html>")
    printed, message = pdf.export_pdf(html_path, tmp_path / "r.pdf")
    assert printed is not None, message
    assert printed.read_bytes()[:4] == b"%PDF"


@pytest.mark.slow
def test_quick_report_end_to_end(tmp_path, monkeypatch):
    """`make report QUICK=1` into a temp root: every notebook, section, figure (and the PDF)."""
    monkeypatch.setenv("GLAUCOMA_MODELS_DIR", str(tmp_path / "models"))
    options = report.BuildOptions(quick=True, out=tmp_path / "out",
                                  data_dir=os.environ.get("GLAUCOMA_DATA"))
    result = report.build_report(options)
    sources = report.numbered_notebooks(PROJECT / "notebooks")
    executed = [nbformat.read(p, as_version=4) for p in result.notebooks]
    assert [p.name for p in result.notebooks] == [p.name for p in sources]
    for nb in executed:
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.get("execution_count") for c in code), "a cell did not run"
    page = result.supplement.read_text()
    for nb, path in zip(executed, sources, strict=True):
        assert supplement.notebook_title(nb, path.stem) in page
    assert "How to trust these numbers" in page
    paper_page = result.html.read_text()
    assert "Abstract" in paper_page and "References" in paper_page
    assert 'class="banner"' in paper_page  # a quick build's paper says it is not the study
    for name in ("training_original", "training_fixed", "test_original", "test_fixed",
                 "misclassified_fixed"):
        assert (tmp_path / "out" / "figures" / f"{name}.png").is_file(), name
    assert len(list((tmp_path / "models").glob("*/run_record.json"))) >= 2
    if os.environ.get("AIROGS_DATA"):  # the positive control ran too
        for name in ("control_cv", "control_learning_curves", "control_disc_sheet"):
            assert (tmp_path / "out" / "figures" / f"{name}.png").is_file(), name
        assert (tmp_path / "models" / "control" / "run_record.json").is_file()
    check_supplement(result.supplement, None)
    assert (tmp_path / "out" / "report" / "tables" / "loss_fixed.csv").is_file()
    if pdf.find_browser() is None:
        pytest.skip("report built and checked; no browser, so the PDF was not checked")
    assert result.pdf is not None, result.pdf_message
    assert result.pdf.read_bytes()[:4] == b"%PDF"
    check_supplement(result.supplement, result.supplement.with_suffix(".pdf"))


def test_a_synthetic_build_of_the_project_goes_to_report_synthetic():
    project = report.BuildOptions(out=report.PROJECT_ROOT)
    assert report.output_root(project, synthetic=True) == report.PROJECT_ROOT / "report/synthetic"
    assert report.output_root(project, synthetic=False) == report.PROJECT_ROOT
    elsewhere = report.BuildOptions(out=Path("/tmp/elsewhere"))
    assert report.output_root(elsewhere, synthetic=True) == Path("/tmp/elsewhere")


@pytest.mark.slow
def test_synthetic_build_leaves_the_committed_report_untouched(stubs, tmp_path, monkeypatch):
    monkeypatch.delenv("GLAUCOMA_DATA", raising=False)
    monkeypatch.setattr(report, "PROJECT_ROOT", tmp_path)
    committed = tmp_path / "report" / "paper.html"
    committed.parent.mkdir()
    committed.write_text("the G1020 report")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "roc.png").write_bytes(b"png")
    result = report.build_report(_options(stubs, tmp_path, out=tmp_path, data_dir=None))
    assert committed.read_text() == "the G1020 report"
    assert (tmp_path / "figures" / "roc.png").read_bytes() == b"png"
    assert result.html == tmp_path / "report" / "synthetic" / "report" / "paper.html"
    assert "SYNTHETIC DATA" in result.html.read_text()


def test_kernel_profile_silences_library_warnings(tmp_path):
    """The kernels of a build log errors only, and asyncio's shutdown chatter not at all."""
    import logging
    from types import SimpleNamespace

    config = report.quiet_kernel_profile(tmp_path) / "profile_default" / "ipython_kernel_config.py"
    c = SimpleNamespace(IPKernelApp=SimpleNamespace(log_level="WARN"))
    asyncio_logger = logging.getLogger("asyncio")
    before = asyncio_logger.level
    try:
        exec(config.read_text(), {"c": c})
        assert c.IPKernelApp.log_level == "ERROR"
        assert not asyncio_logger.isEnabledFor(logging.ERROR)
    finally:
        asyncio_logger.setLevel(before)


@pytest.mark.slow
def test_build_without_the_control_data_refers_to_no_missing_figure(tmp_path, monkeypatch):
    """A new user's first build has no AIROGS: notebook 08 skips the control, and its text must
    then refer to no figure or table it did not make (the build fails on a dangling reference)."""
    monkeypatch.delenv("AIROGS_DATA", raising=False)
    monkeypatch.setenv("GLAUCOMA_MODELS_DIR", str(tmp_path / "models"))
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy(PROJECT / "notebooks" / "08_positive_control.ipynb", notebooks)
    result = report.build_report(report.BuildOptions(
        quick=True, out=tmp_path / "out", notebooks_dir=notebooks, pdf=False,
        data_dir=os.environ.get("GLAUCOMA_DATA")))
    assert "the positive control is skipped in this build" in result.supplement.read_text()


def test_jobs_reaches_every_notebook_that_uses_it_as_a_parameter(monkeypatch):
    """`--jobs 1` is passed to each notebook that runs tasks, as its `jobs` parameter; the
    environment plays no part."""
    monkeypatch.setenv("JOBS", "5")
    options = report.parse_args(["--jobs", "1"])
    offered = report.offered_parameters(options, Path("/data"))
    users = []
    for notebook in report.numbered_notebooks(PROJECT / "notebooks"):
        nb = nbformat.read(notebook, as_version=4)
        code = [c.source for c in nb.cells if c.cell_type == "code"
                and "parameters" not in c.metadata.get("tags", [])]
        if any("jobs" in source for source in code):
            users.append(notebook.stem)
            assert report.parameters_for(notebook, offered)["jobs"] == 1, notebook.name
    assert {"06_improved_model", "07_evaluation", "08_positive_control", "10_trust"} <= set(users)
    assert report.parse_args([]).jobs == 0  # every core, whatever $JOBS says


def _processes_alive(pids: set[int]) -> set[int]:
    """The pids still running (a zombie, dead but not yet reaped, is not running)."""
    alive = set()
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state != "Z":
            alive.add(pid)
    return alive


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc")
def test_sigterm_takes_kernels_and_workers_down_with_the_build(tmp_path):
    """A build told to stop kills its notebook kernel and every pool worker (the build's and
    the kernel's), and nothing is written after it exits."""
    written = tmp_path / "written"
    written.mkdir()
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    _notebook(nb_dir / "01_writes.ipynb", "jobs = 0",
              "import time\nfrom pathlib import Path\nfrom glaucoma_lib import tasks\n"
              f"out = Path({str(written)!r})\n"
              "def write(path):\n"
              "    while True:\n"
              "        with open(path, 'a') as fh:\n"
              "            fh.write('x')\n"
              "        time.sleep(0.05)\n"
              "pool = tasks.task_pool(2)\n"
              "workers = [pool.submit(write, out / f'worker{i}.txt') for i in range(2)]\n"
              "write(out / 'kernel.txt')", title="Writes until killed")
    _notebook(nb_dir / "02_never.ipynb", "x = 1", "print('never')", title="Never runs")
    build = subprocess.Popen(
        [sys.executable, "-m", "glaucoma_lib.report.build", "--quick", "--jobs", "2",
         "--no-pdf", "--out", str(tmp_path / "out"), "--notebooks-dir", str(nb_dir)],
        cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT)})
    expected = [written / name for name in ("kernel.txt", "worker0.txt", "worker1.txt")]
    deadline = time.monotonic() + 120
    while not all(p.is_file() for p in expected) and build.poll() is None:
        assert time.monotonic() < deadline, "the stub notebook never started writing"
        time.sleep(0.2)
    children = tasks.descendants(build.pid)
    assert len(children) >= 4  # the build's pool worker, the kernel, the kernel's two workers
    build.send_signal(signal.SIGTERM)
    assert build.wait(timeout=30) == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in build.stderr.read()
    sizes = [p.stat().st_size for p in expected]
    time.sleep(2)
    assert [p.stat().st_size for p in expected] == sizes  # nothing written after the exit
    assert _processes_alive(children) == set()
