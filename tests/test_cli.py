"""The predict command: output lines, CSV, exit codes."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from conftest import fundus
from PIL import Image

from glaucoma_lib.cli import main as cli
from glaucoma_lib.nn.network import CONFIG_KEY, META_KEY
from glaucoma_lib.nn.weight_files import json_entry, read_json_entry, read_npz, save_npz


def test_all_good_exits_zero_and_writes_csv(folder, weights, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "res.csv"
    code = cli.main(["predict", str(folder / "a.jpg"), "--weights", str(weights), "--csv",
                     str(out)])
    assert code == 0
    assert "a.jpg" in capsys.readouterr().out
    assert pd.read_csv(out)["path"].str.endswith("a.jpg").all()


def test_any_failure_gives_nonzero_exit_but_others_still_scored(folder, weights, tmp_path,  # noqa: F811
                                                                capsys):
    out = tmp_path / "res.csv"
    code = cli.main(["predict", str(folder), str(tmp_path / "nope.jpg"), "--weights",
                     str(weights), "--csv", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert "broken.jpg" in captured.err and "nope.jpg" in captured.err
    table = pd.read_csv(out)
    assert len(table) == 4  # one row per input file, failed ones included
    failed = table[table["status"] != "ok"]
    assert sorted(Path(p).name for p in failed["path"]) == ["broken.jpg", "nope.jpg"]
    assert failed["probability"].isna().all() and failed["label"].isna().all()
    assert failed["status"].str.startswith("unreadable: ").all()


def test_bad_weights_file_is_a_clear_error(folder, tmp_path, capsys):  # noqa: F811
    bad = tmp_path / "w.npz"
    bad.write_bytes(b"nonsense")
    assert cli.main(["predict", str(folder / "a.jpg"), "--weights", str(bad)]) == 2
    assert "cannot load the model" in capsys.readouterr().err


def test_module_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "glaucoma_lib", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "predict" in done.stdout


def test_csv_that_is_an_input_is_refused_before_anything_runs(folder, weights, tmp_path, capsys):
    photo = folder / "a.jpg"
    before = photo.read_bytes()
    link = tmp_path / "link.jpg"
    link.symlink_to(photo)
    hard = tmp_path / "hard.csv"
    hard.hardlink_to(photo)
    for inputs, out in [([photo], photo), ([photo], link), ([link], photo), ([photo], hard),
                        ([folder], folder / "new.jpg"), ([folder], folder / "sub" / "b.png")]:
        code = cli.main(["predict", *map(str, inputs), "--weights", str(weights), "--csv",
                         str(out)])
        err = capsys.readouterr()
        assert code == 3 and "refusing" in err.err and err.out == ""
    assert photo.read_bytes() == before
    assert not (folder / "new.jpg").exists()


def run(args, capsys):
    code = cli.main(["predict", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def no_temp_files(folder):
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_unwritable_csv_targets_fail_before_scoring_in_one_line(folder, weights, tmp_path,
                                                                 capsys):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    for out, problem in [(tmp_path / "adir", "is a folder"),
                         (tmp_path / "afile" / "res.csv", "is a file, not a folder")]:
        code, stdout, err = run([folder / "a.jpg", "--weights", weights, "--csv", out], capsys)
        assert code == cli.EXIT_OUTPUT and problem in err and len(err.splitlines()) == 1
        assert stdout == ""  # refused before any image was scored
    assert (tmp_path / "adir").is_dir() and not list((tmp_path / "adir").iterdir())
    assert no_temp_files(tmp_path)


def test_read_only_folder_is_one_line(folder, weights, tmp_path, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli.CsvWriter, "__init__", refuse)  # the tests may run as root
    code, stdout, err = run([folder / "a.jpg", "--weights", weights, "--csv",
                             tmp_path / "res.csv"], capsys)
    assert code == cli.EXIT_OUTPUT and "Permission denied" in err and stdout == ""


def test_names_that_are_not_utf8_or_hold_tabs_keep_csv_and_lines(tmp_path, weights, capsys):
    photos = tmp_path / "in"
    photos.mkdir()
    odd = [os.fsdecode(b"caf\xe9.jpg"), "tab\there.jpg", "new\nline.jpg"]
    for name in odd:
        Image.fromarray(fundus()).save(photos / name, format="JPEG")
    out = tmp_path / "res.csv"
    code, stdout, _ = run([photos, "--weights", weights, "--csv", out], capsys)
    assert code == 0
    lines = stdout.splitlines()
    assert len(lines) == 3 and all(line.count("\t") == 3 for line in lines)
    assert "tab\\there.jpg" in stdout and "new\\nline.jpg" in stdout and "\\udce9" in stdout
    raw = out.read_bytes()
    assert b"caf\xe9.jpg" in raw  # the file's own bytes: the path opens the file again
    table = pd.read_csv(out, encoding_errors="surrogateescape")
    assert sorted(Path(p).name for p in table["path"]) == sorted(odd)
    assert all(Path(p).is_file() for p in table["path"])


def test_broken_pipe_ends_quietly_and_still_writes_the_csv(folder, weights, tmp_path):
    out = tmp_path / "res.csv"
    proc = subprocess.Popen([sys.executable, "-m", "glaucoma_lib", "predict", str(folder),
                             str(folder / "a.jpg"), "--weights", str(weights), "--csv", str(out),
                             "--batch-size", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line, as after `| head -0`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == cli.EXIT_BROKEN_PIPE
    assert "Traceback" not in err and "Exception ignored" not in err
    assert len(pd.read_csv(out)) >= 3


def test_ctrl_c_is_one_line_and_leaves_no_csv(folder, weights, tmp_path, capsys, monkeypatch):
    real = cli.predict_stream

    def interrupted(*args, **kwargs):
        yield next(real(*args, **kwargs))
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "predict_stream", interrupted)
    out = tmp_path / "res.csv"
    code, _, err = run([folder, "--weights", weights, "--csv", out], capsys)
    assert code == cli.EXIT_INTERRUPTED and err.strip() == "error: interrupted; no CSV written"
    assert not out.exists() and no_temp_files(tmp_path)


def test_weights_that_are_not_files_or_hold_bad_values(folder, weights, tmp_path, capsys):
    code, _, err = run([folder / "a.jpg", "--weights", "/dev/zero"], capsys)
    assert code == cli.EXIT_MODEL and "no such" not in err and "not a regular file" in err
    meta = read_json_entry(weights, META_KEY)
    net = read_json_entry(weights, CONFIG_KEY)
    arrays = read_npz(weights)
    for n, (key, entry) in enumerate([
            (META_KEY, {**meta, "threshold": "x"}),  # ValueError
            (META_KEY, {**meta, "config": {"channels": 5}}),  # TypeError
            (META_KEY, {k: v for k, v in meta.items() if k != "config"}),  # KeyError
            (CONFIG_KEY, {**net, "hidden_size": 0})]):  # ZeroDivisionError
        bad = tmp_path / f"bad{n}.npz"
        save_npz(bad, {**arrays, key: json_entry(entry)})
        code, _, err = run([folder / "a.jpg", "--weights", bad], capsys)
        assert code == cli.EXIT_MODEL and str(bad) in err and len(err.splitlines()) == 1, err


def test_empty_folder_gets_a_hint_and_a_fifo_is_not_read(tmp_path, weights, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run([empty, "--weights", weights], capsys)
    assert code == cli.EXIT_NO_IMAGES and "no image files found" in err and ".jpg" in err
    os.mkfifo(empty / "a.jpg")
    code, _, err = run([empty, "--weights", weights], capsys)  # would hang if the FIFO were read
    assert code == cli.EXIT_NO_IMAGES
    code, _, err = run([empty / "a.jpg", "--weights", weights], capsys)
    assert code == cli.EXIT_IMAGES_FAILED and "not a regular file" in err


def test_outputs_only_replace_regular_files_that_nothing_else_needs(folder, weights,
                                                                    tmp_path_factory, capsys):
    outside = tmp_path_factory.mktemp("outside")
    photo = outside / "photo.jpg"
    photo.write_bytes((folder / "a.jpg").read_bytes())
    (folder / "linked.jpg").symlink_to(photo)
    kept = outside / "kept.csv"
    kept.write_text("keep me")
    (outside / "link.csv").symlink_to(kept)
    os.mkfifo(outside / "node.csv")  # stands in for /dev/null and other device nodes
    weights_copy = outside / "w.npz"
    weights_copy.write_bytes(Path(weights).read_bytes())
    for out, problem in [(photo, "also an input"), (outside / "link.csv", "symbolic link"),
                         (outside / "node.csv", "not a regular file"),
                         (weights_copy, "weight file"), ("", "empty"),
                         (outside / "new" / "deeper" / "res.csv", "does not exist")]:
        code, stdout, err = run([folder, "--weights", weights_copy, "--csv", out], capsys)
        assert code == cli.EXIT_OUTPUT and problem in err and stdout == "", (out, err)
        assert len(err.splitlines()) == 1
    assert photo.read_bytes() == (folder / "a.jpg").read_bytes()
    assert kept.read_text() == "keep me" and (outside / "link.csv").is_symlink()
    assert (outside / "node.csv").is_fifo() and not (outside / "new").exists()
    assert weights_copy.read_bytes() == Path(weights).read_bytes()


def test_csv_gets_the_mode_open_would_give(folder, weights, tmp_path, capsys):
    old = os.umask(0o022)
    try:
        code, _, _ = run([folder / "a.jpg", "--weights", weights, "--csv",
                          tmp_path / "res.csv"], capsys)
    finally:
        os.umask(old)
    assert code == 0 and (tmp_path / "res.csv").stat().st_mode & 0o777 == 0o644


def test_usage_errors_have_their_own_exit_code(capsys):
    assert cli.main(["predict"]) == cli.EXIT_USAGE != cli.EXIT_MODEL
    assert cli.main(["predict", "x.jpg", "--batch-size", "many"]) == cli.EXIT_USAGE
    assert cli.main(["predict", "--help"]) == 0
    assert "64" in capsys.readouterr().out


def cli_process(args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "glaucoma_lib", "predict", *map(str, args)],
                            **kwargs)


def test_full_stdout_or_stderr_still_gives_the_csv_and_no_traceback(folder, weights, tmp_path):
    for n, streams in enumerate([{"stdout": "full", "stderr": "log"},
                                 {"stdout": "log", "stderr": "full"}]):
        out = tmp_path / f"res{n}.csv"
        log = tmp_path / f"log{n}.txt"
        with open("/dev/full", "w") as full, open(log, "w") as text:
            files = {"full": full, "log": text}
            proc = cli_process([folder / "a.jpg", "--weights", weights, "--csv", out],
                               **{k: files[v] for k, v in streams.items()})
            assert proc.wait(timeout=120) == cli.EXIT_STREAM
        assert len(pd.read_csv(out)) == 1
        assert "Traceback" not in log.read_text() and "Exception" not in log.read_text()


def test_sigterm_sighup_and_an_early_ctrl_c_end_in_one_line(folder, weights, tmp_path):
    import signal

    for k in range(6):
        Image.fromarray(fundus(seed=k)).save(folder / f"more_{k}.jpg")
    for signum in (signal.SIGTERM, signal.SIGHUP):
        out = tmp_path / "res.csv"
        proc = cli_process([folder, "--weights", weights, "--csv", out, "--batch-size", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.readline()  # scoring has begun: the temp CSV exists
        proc.send_signal(signum)
        err = proc.communicate(timeout=120)[1].decode()
        assert proc.returncode == 128 + signum and "Traceback" not in err
        assert err.strip().endswith("error: interrupted; no CSV written")
        assert not out.exists() and no_temp_files(tmp_path)
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "glaucoma_lib", "predict",
                             "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = False
    for line in proc.stderr:  # past the signals module and into numpy: the handler is in place
        seen = seen or b"glaucoma_lib.cli.signals" in line
        if seen and b"numpy" in line:
            break
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1].decode()
    assert "Traceback" not in err and proc.returncode in (0, cli.EXIT_INTERRUPTED)
    assert proc.returncode == 0 or "error: interrupted; no CSV written" in err
