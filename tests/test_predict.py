"""predict(): files, folders, arrays, odd sizes, unreadable files, streaming, atomic CSV."""

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import a_fundus, dimmed, fundus, red_gradient, red_noise
from PIL import Image

from glaucoma_lib.cli import predict as predict_module
from glaucoma_lib.cli.predict import CSV_COLUMNS, CsvWriter, Prediction, predict, predict_stream
from glaucoma_lib.data import images
from glaucoma_lib.models.disc import locate_discs
from glaucoma_lib.models.kinds import load_model


def test_folder_is_walked_and_bad_files_are_reported_not_fatal(folder, weights):
    df = predict(folder, weights=weights)
    assert list(df["path"].map(lambda p: p.split("/")[-1])) == ["a.jpg", "broken.jpg", "b.png"]
    bad = df[df["status"] != "ok"]
    assert len(bad) == 1 and bad["status"].iloc[0].startswith("unreadable: ")
    assert bad["path"].iloc[0].endswith("broken.jpg")
    good = df[df["status"] == "ok"]
    assert good["probability"].between(0, 1).all()
    assert set(good["label"]) <= {0, 1}


def test_disc_is_reported_in_native_pixels_of_any_size(folder, weights):
    df = predict([folder / "a.jpg", folder / "sub" / "b.png"], weights=weights)
    assert df.loc[0, "disc_x"] == pytest.approx(370, abs=15)
    # b.png: the 512 image with the disc at (130, 300) stretched to 800x600
    assert df.loc[1, "disc_x"] == pytest.approx(130 * 800 / 512, abs=25)
    assert df.loc[1, "disc_y"] == pytest.approx(300 * 600 / 512, abs=25)


def test_arrays_and_paths_agree(folder, weights):
    arr = np.asarray(Image.open(folder / "a.jpg").convert("RGB"))
    res = predict([arr, str(folder / "a.jpg")], weights=weights, as_frame=False)
    assert res[0].path == "<array 0>"
    assert res[0].probability == pytest.approx(res[1].probability)
    wrong = predict(np.zeros((4, 4), np.uint8), weights=weights)
    assert "expected uint8 (H, W, 3)" in wrong.loc[0, "status"]


def test_batch_size_does_not_change_results(folder, weights):
    items = [folder / "a.jpg", folder / "broken.jpg", folder / "sub" / "b.png"] * 3
    a = predict(items, weights=weights, batch_size=1)
    b = predict(items, weights=weights, batch_size=4)
    pd.testing.assert_frame_equal(a, b)


def test_stream_is_lazy(weights):
    def endless():
        while True:
            yield fundus()

    stream = predict_stream(endless(), load_model(weights), batch_size=2)
    assert [next(stream).ok for _ in range(3)] == [True] * 3


def test_csv_writer_is_atomic(tmp_path):
    out = tmp_path / "res.csv"
    w = CsvWriter(out)
    w.write(Prediction("x.jpg", 0.25, 0, 10.0, 20.0))
    w.write(Prediction("y.jpg", status="unreadable: truncated"))
    assert not out.exists()
    w.commit()
    df = pd.read_csv(out)
    assert list(df.columns) == CSV_COLUMNS and df.loc[0, "probability"] == 0.25
    assert df.loc[1, "status"] == "unreadable: truncated" and np.isnan(df.loc[1, "probability"])
    w2 = CsvWriter(out)
    w2.abort()
    assert pd.read_csv(out).shape == (2, 6) and len(list(tmp_path.iterdir())) == 1


def test_predict_takes_a_single_path(folder, weights):
    df = predict(folder / "a.jpg", weights=weights)
    assert len(df) == 1 and df.loc[0, "status"] == "ok"


def rotated_with_exif(displayed: Image.Image, path):
    """Stored turned a quarter left, with EXIF orientation 6 saying 'turn right to display'."""
    exif = Image.Exif()
    exif[0x0112] = 6
    displayed.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=95)
    return path


def test_exif_orientation_is_applied_in_predict_loader_and_localiser(tmp_path, weights):
    displayed = Image.fromarray(fundus((150, 330))).resize((640, 480))
    path = rotated_with_exif(displayed, tmp_path / "image_0.jpg")
    upright = images.read_image(path)
    assert upright.shape == (480, 640, 3)
    assert np.abs(upright.astype(int) - np.asarray(displayed)).mean() < 4
    assert locate_discs([upright])[0].x == pytest.approx(150 * 640 / 512, abs=20)
    df = predict(path, weights=weights)
    assert df.loc[0, "disc_x"] == pytest.approx(150 * 640 / 512, abs=20)
    assert df.loc[0, "disc_y"] == pytest.approx(330 * 480 / 512, abs=20)
    small = images.read_resized(path, 64)
    reference = np.asarray(Image.fromarray(fundus((150, 330))).resize((64, 64), Image.BOX))
    assert np.abs(small[8:56].astype(int) - reference[8:56]).mean() < 25
    assert "exif" in images.PIPELINE  # the loader's cache key changed with its decode


def test_large_jpeg_is_decoded_reduced_and_positions_stay_native(tmp_path, weights,
                                                                  monkeypatch):
    big = Image.fromarray(fundus((370, 250))).resize((4096, 4096))
    big.save(tmp_path / "big.jpg", quality=90)
    working, displayed = images.read_working(tmp_path / "big.jpg", 512)
    assert displayed == (4096, 4096) and working.shape == (512, 512, 3)
    held = []
    real = predict_module._score_batch
    monkeypatch.setattr(predict_module, "_score_batch",
                        lambda model, batch: held.extend(s.image.shape for s in batch)
                        or real(model, batch))
    df = predict([tmp_path / "big.jpg"] * 3, weights=weights, batch_size=3)
    assert held == [(512, 512, 3)] * 3  # a batch holds working squares, not 4096 px decodes
    assert df["disc_x"].iloc[0] == pytest.approx(370 * 8, abs=120)


def test_declared_size_above_the_limit_is_refused_from_the_header(tmp_path, weights):
    out = tmp_path / "small.jpg"
    Image.new("RGB", (16, 16), (200, 80, 40)).save(out)
    data = bytearray(out.read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = (8000).to_bytes(2, "big") * 2  # 64 Mpx declared in the header
    (tmp_path / "bomb.jpg").write_bytes(bytes(data))
    df = predict(tmp_path / "bomb.jpg", weights=weights)
    status = df.loc[0, "status"]
    assert status.startswith("unreadable: ") and "exceeds the limit" in status


def blank_frames():
    rng = np.random.default_rng(0)
    frames = {"black": np.zeros((300, 400, 3), np.uint8),
              "white": np.full((512, 512, 3), 255, np.uint8),
              "grey": np.full((512, 512, 3), 128, np.uint8)}
    for k in range(5):
        frames[f"noise{k}"] = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    return frames


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_frames_without_a_fundus_get_no_verdict(tmp_path, weights):
    paths = []
    for name, frame in blank_frames().items():
        paths.append(tmp_path / f"{name}.png")
        Image.fromarray(frame).save(paths[-1])
    paths.append(tmp_path / "transparent.png")
    Image.new("RGBA", (256, 256), (200, 80, 40, 0)).save(paths[-1])
    paths.append(tmp_path / "real.png")
    Image.fromarray(fundus()).save(paths[-1])
    df = predict(paths, weights=weights)
    assert list(df["status"]) == ["no fundus found"] * (len(paths) - 1) + ["ok"]
    assert df["probability"].iloc[:-1].isna().all() and (df["label"].iloc[:-1] == -1).all()


def test_coloured_frames_and_a_dimmed_fundus_get_no_verdict(tmp_path, weights):
    """A red gradient and red noise are as red as a fundus and give the detector a confident
    peak; a photograph dimmed to 15 % keeps a red, confident 'field' with the disc misplaced.
    Before the dark-corner and peak floors all three got a verdict."""
    frames = {"red_gradient": red_gradient(), "red_noise": red_noise(),
              "dimmed": dimmed(a_fundus(), 0.15), "real": a_fundus()}
    paths = []
    for name, frame in frames.items():
        paths.append(tmp_path / f"{name}.png")
        Image.fromarray(frame).save(paths[-1])
    df = predict(paths, weights=weights)
    assert list(df["status"]) == ["no fundus found"] * 3 + ["ok"]


@pytest.mark.skipif(not os.environ.get("GLAUCOMA_DATA"), reason="GLAUCOMA_DATA not set")
def test_real_g1020_images_keep_their_verdict(weights):
    folder = Path(os.environ["GLAUCOMA_DATA"]) / "Images_Square"
    picks = [folder / f"image_{n}.jpg" for n in (0, 1, 3, 5, 2000, 2562)]
    df = predict([p for p in picks if p.is_file()], weights=weights)
    assert len(df) >= 4 and (df["status"] == "ok").all()


def test_arithmetic_that_overflows_gives_no_verdict(folder, weights):
    model = load_model(weights)
    model.network.params["W1"][...] = 1e38  # finite, so a file check on finiteness passes it
    results = list(predict_stream([folder / "a.jpg", folder / "sub" / "b.png"], model))
    assert [r.status for r in results] == [predict_module.NON_FINITE] * 2
    assert all(np.isnan(r.probability) and r.label == -1 for r in results)


def test_only_the_image_that_overflows_loses_its_verdict(weights, monkeypatch):
    model = load_model(weights)
    squares = [fundus(), fundus((150, 250), seed=2), fundus(seed=1)]
    bad = model.inputs(squares, locate_discs(squares))[1].mean()
    real = model.predict_proba

    def overflow_on_bad(x, locations=None):
        if np.isclose(x.mean(axis=(1, 2, 3)), bad, rtol=1e-7, atol=0).any():
            np.float32(3e38) * np.float32(10)  # raises inside predict's errstate
        return real(x, locations)

    monkeypatch.setattr(model, "predict_proba", overflow_on_bad)
    results = list(predict_stream(squares, model, batch_size=3))
    assert [r.status for r in results] == ["ok", predict_module.NON_FINITE, "ok"]


def test_folders_of_any_depth_and_unlistable_folders(tmp_path, weights, monkeypatch):
    deep = bottom = tmp_path / "top"
    deep.mkdir()
    for _ in range(1000):  # Path.mkdir(parents=True) itself recurses
        bottom = bottom / "d"
        bottom.mkdir()
    Image.fromarray(fundus()).save(bottom / "deep.jpg")
    (tmp_path / "top" / "locked").mkdir()
    real = os.scandir

    def refuse_locked(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(predict_module.os, "scandir", refuse_locked)  # tests may run as root
    try:
        df = predict(deep, weights=weights)
    finally:  # pytest's own clean-up (shutil.rmtree) recurses, so the tree goes here
        (bottom / "deep.jpg").unlink()
        while bottom != deep:
            bottom.rmdir()
            bottom = bottom.parent
    assert list(df["status"]) == ["ok", "unreadable folder: permission denied"]
    assert df["path"].iloc[0].endswith("deep.jpg") and df["path"].iloc[1].endswith("locked")


def test_results_stream_as_they_come_and_time_is_linear(tmp_path, weights):
    consumed = []

    def missing():
        for k in range(1000):
            consumed.append(k)
            yield str(tmp_path / f"missing_{k}.jpg")

    stream = predict_stream(missing(), load_model(weights))
    assert not next(stream).ok and len(consumed) == 1  # no waiting for a batch that never fills
    start = time.perf_counter()
    rows = list(predict_stream([str(tmp_path / f"m{k}.jpg") for k in range(30_000)]
                               + [fundus()], load_model(weights)))
    assert len(rows) == 30_001 and rows[-1].ok
    assert time.perf_counter() - start < 15  # quadratic bookkeeping took minutes


def test_extreme_aspect_ratio_and_huge_png_are_refused_from_the_header(tmp_path, weights,
                                                                       monkeypatch):
    Image.new("RGB", (4900, 10), (200, 80, 40)).save(tmp_path / "strip.jpg")
    Image.new("RGB", (5000, 5000)).save(tmp_path / "huge.png")
    df = predict([tmp_path / "strip.jpg", tmp_path / "huge.png"], weights=weights)
    assert "aspect ratio" in df.loc[0, "status"]
    assert "decoded at full size" in df.loc[1, "status"]
    assert images.read_image(tmp_path / "huge.png").shape == (5000, 5000, 3)  # training reads

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images.Image, "open", denied)  # tests may run as root
    df = predict(tmp_path / "strip.jpg", weights=weights)
    assert df.loc[0, "status"] == "unreadable: permission denied"
