"""The report build's arguments, data paths and Makefile variables: a mistake is one line and
exit code 2 before anything is created, and yes/no options mean what they say."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from glaucoma_lib.report import build as report

PROJECT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("argv", "named"), [
    (["--jobs", "-1"], "--jobs"),
    (["--jobs", "abc"], "--jobs"),
    (["--seed", "-3"], "--seed"),
    (["--seed", "1.5"], "--seed"),
    (["--data-dir", "/nonexistent"], "/nonexistent"),
    (["--airogs-dir", "/typo"], "/typo"),
    (["--hygd-dir", "/elsewhere"], "/elsewhere"),
    (["--no-such-option"], "--no-such-option"),
])
def test_a_bad_argument_is_one_line_and_exit_code_2_with_nothing_created(
        argv, named, tmp_path, capsys):
    out = tmp_path / "out"
    assert report.main([*argv, "--out", str(out)]) == report.EXIT_INPUT == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err, err
    assert not out.exists()


@pytest.mark.parametrize(("variable", "value"), [
    ("GLAUCOMA_DATA", "/nonexistent"), ("AIROGS_DATA", "/typo"), ("HYGD_DATA", "/gone")])
def test_a_bad_environment_variable_is_one_line_and_exit_code_2(
        variable, value, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(variable, value)
    out = tmp_path / "out"
    assert report.main(["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"${variable}" in err and value in err, err
    assert not out.exists()


def test_an_output_root_that_cannot_be_a_folder_is_exit_code_2(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert report.main(["--out", str(tmp_path / "file" / "out")]) == 2
    assert "cannot create" in capsys.readouterr().err


def test_bad_jobs_through_the_api_leave_no_build_folder(tmp_path):
    with pytest.raises(ValueError, match="jobs"):
        report.build_report(report.BuildOptions(out=tmp_path, jobs=-1, pdf=False))
    assert not list(tmp_path.rglob(".build-*"))


def _make(*args, env=None):
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    return subprocess.run(["make", "--no-print-directory", "-C", str(PROJECT), "STAMP=", *args],
                          capture_output=True, text=True, env=env)


@pytest.mark.parametrize("value", ["0", "", "no", "false"])
def test_yes_no_make_options_are_off_for_0_empty_no_and_false(value):
    command = _make("-n", "report", f"QUICK={value}", f"FULL={value}").stdout
    assert "glaucoma_lib.report.build" in command
    assert "--quick" not in command and "--full" not in command
    assert '-m "not slow"' in _make("-n", "test", f"SLOW={value}").stdout


@pytest.mark.parametrize("value", ["1", "yes", "true"])
def test_yes_no_make_options_are_on_for_1_yes_and_true(value):
    command = _make("-n", "report", f"QUICK={value}", f"FULL={value}").stdout
    assert "--quick" in command and "--full" in command
    assert "not slow" not in _make("-n", "test", f"SLOW={value}").stdout


def test_an_unknown_yes_no_value_stops_make():
    done = _make("-n", "report", "FULL=maybe")
    assert done.returncode != 0 and "FULL=maybe" in done.stderr


def test_make_passes_paths_with_quotes_and_spaces_as_one_argument(tmp_path):
    """PY replaced by a script that prints the arguments the recipe gave it."""
    echo = tmp_path / "argv.py"
    echo.write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    given = ("DATA", "AIROGS", "HYGD", "SEED", "JOBS")
    env = {k: v for k, v in os.environ.items() if k not in given}
    data, airogs = '/data/my "G1020" copy', "/data/it's here; echo INJECTED"
    done = _make("-s", "report", f"PY={sys.executable} {echo}", f"DATA={data}",
                 f"AIROGS={airogs}", "HYGD=/h y", "SEED=3", "JOBS=2", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["-m", "glaucoma_lib.report.build", "--data-dir", data,
                                       "--airogs-dir", airogs, "--hygd-dir", "/h y",
                                       "--seed", "3", "--jobs", "2"]
