"""The predict command: output lines, CSV, exit codes."""

import subprocess
import sys

import pandas as pd

from glaucoma_lib import cli


def test_all_good_exits_zero_and_writes_csv(folder, weights, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "o" / "res.csv"
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
    assert len(pd.read_csv(out)) == 2


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
