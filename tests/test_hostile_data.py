"""Bad and odd input: every problem is a DataError naming the file, and nothing is half written."""

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from glaucoma_lib.data import cache, images, split
from glaucoma_lib.data import loading as data

fuzz = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


pytestmark = pytest.mark.usefixtures("private_cache")


def jpeg_bytes(size=(32, 32), colour=(200, 80, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="JPEG")
    return out.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def write_set(folder: Path, csv_text: str | bytes, images: dict[str, bytes]) -> Path:
    (folder / "Images_Square").mkdir(parents=True, exist_ok=True)
    for name, content in images.items():
        (folder / "Images_Square" / name).write_bytes(content)
    raw = csv_text.encode() if isinstance(csv_text, str) else csv_text
    (folder / "G1020.csv").write_bytes(raw)
    return folder


def good_images(n=4) -> dict[str, bytes]:
    return {f"image_{i}.jpg": jpeg_bytes() for i in range(n)}


GOOD_CSV = "imageID,binaryLabels\n" + "".join(f"image_{i}.jpg,{i % 2}\n" for i in range(4))


def assert_nothing_cached():
    folder = cache.CACHE_DIR
    assert not folder.exists() or not list(folder.iterdir())


# ---------------------------------------------------------------------------- the label file


def test_missing_csv(tmp_path):
    with pytest.raises(data.DataError, match=r"no label file .*G1020\.csv"):
        data.read_labels(tmp_path)


@pytest.mark.parametrize(
    ("csv_text", "problem"),
    [
        ("id,label\nimage_1.jpg,0\n", "column 'imageID' is missing"),
        ("imageID\nimage_1.jpg\n", "column 'binaryLabels' is missing"),
        ("imageID,imageID,binaryLabels\na_1.jpg,a_1.jpg,0\n", "more than once"),
        ("", "empty"),
        ("imageID,binaryLabels\n", "no labelled images"),
        ("imageID,binaryLabels\nimage_1.jpg,0\nimage_1.jpg,1\n", "more than once"),
        ("imageID,binaryLabels\nimage_1.jpg,0.5\n", "line 2: label '0.5'"),
        ("imageID,binaryLabels\nimage_1.jpg,yes\n", "label 'yes'"),
        ("imageID,binaryLabels\nimage_1.jpg,\n", "label ''"),
        ("imageID,binaryLabels\nimage_1.jpg,2\n", "label '2'"),
        ("imageID,binaryLabels\nimage_1.jpg,nan\n", "label 'nan'"),
        ("imageID,binaryLabels\nimage_1.jpg\n", "line 2: only 1 field"),
        ("imageID,binaryLabels\n,1\n", "empty imageID"),
        ("imageID,binaryLabels\n../image_1.jpg,1\n", "not a plain file name"),
        ("imageID,binaryLabels\nimage.jpg,1\n", "no usable image number"),
    ],
)
def test_bad_label_files(tmp_path, csv_text, problem):
    write_set(tmp_path, csv_text, {})
    with pytest.raises(data.DataError) as error:
        data.read_labels(tmp_path)
    assert str(tmp_path / "G1020.csv") in str(error.value)
    assert problem in str(error.value)


def test_non_utf8_bytes_in_names(tmp_path):
    write_set(tmp_path, b"imageID,binaryLabels\nimage_1.jpg,0\nimag\xe9_2.jpg,1\n", {})
    with pytest.raises(data.DataError, match=r"G1020\.csv: line 3: byte 0xe9 .* not UTF-8"):
        data.read_labels(tmp_path)


def test_tolerated_csv_quirks(tmp_path):
    """BOM, CRLF, blank lines, extra columns, padding, labels like 1.0: accepted on purpose."""
    raw = (
        "\ufeffnotes, imageID ,binaryLabels\r\n"
        "\r\n"
        "left eye,image_10.jpg, 1.0\r\n"
        "x,image_2.jpg,0\r\n"
        ",,\r\n"
        "y, image_3.jpg ,1e0 \r\n"
    ).encode()
    write_set(tmp_path, raw, {})
    labels = data.read_labels(tmp_path)
    assert labels["imageID"].tolist() == ["image_2.jpg", "image_3.jpg", "image_10.jpg"]
    assert labels["binaryLabels"].tolist() == [0, 1, 1]
    assert labels["binaryLabels"].dtype == np.int64


# ---------------------------------------------------------------------------- the image folder


def test_listed_image_missing(tmp_path):
    images = good_images()
    del images["image_2.jpg"]
    write_set(tmp_path, GOOD_CSV, images)
    with pytest.raises(data.DataError, match=r"Images_Square: 1 image\(s\) .* missing.*image_2"):
        data.load_glaucoma(tmp_path)
    assert_nothing_cached()


def test_listed_names_starting_with_a_dot_are_found_unlisted_ones_ignored(tmp_path):
    images = good_images(3) | {".image_3.jpg": jpeg_bytes(), ".DS_Store": b"\0\1"}
    csv_text = GOOD_CSV.replace("image_3.jpg", ".image_3.jpg")
    write_set(tmp_path, csv_text, images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # .DS_Store is not listed, and no warning names it
        found, _, ids = data.load_labelled(tmp_path, image_size=8)
    assert ".image_3.jpg" in ids and len(found) == 4


def test_empty_or_absent_image_folder(tmp_path):
    write_set(tmp_path, GOOD_CSV, {})
    with pytest.raises(data.DataError, match="Images_Square: the image folder is empty"):
        data.load_glaucoma(tmp_path)
    (tmp_path / "Images_Square").rmdir()
    with pytest.raises(data.DataError, match="Images_Square: image folder not found"):
        data.load_glaucoma(tmp_path)


def test_unlisted_images_are_skipped_with_a_counted_warning(tmp_path):
    images = good_images() | {"image_77.jpg": jpeg_bytes(), "image_78.jpg": jpeg_bytes()}
    write_set(tmp_path, GOOD_CSV, images)
    with pytest.warns(UserWarning, match=r"skipping 2 file\(s\) not listed"):
        (x_train, _), (x_test, _) = data.load_glaucoma(tmp_path)
    assert len(x_train) + len(x_test) == 4


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not a readable image"),
        (bytes(range(256)) * 4, "not a readable image"),
        (jpeg_bytes((64, 64))[:300], "truncated or corrupt"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not a readable image|truncated or corrupt"),
    ],
)
def test_unreadable_images(tmp_path, content, problem):
    images = good_images() | {"image_3.jpg": content}
    write_set(tmp_path, GOOD_CSV, images)
    with pytest.raises(data.DataError, match=problem) as error:
        data.load_glaucoma(tmp_path)
    assert "image_3.jpg" in str(error.value)
    assert_nothing_cached()


def png_with_size(width: int, height: int) -> bytes:
    """A tiny valid PNG whose header claims another size: a decompression bomb's calling card."""
    raw = bytearray(png_bytes(Image.new("RGB", (1, 1))))
    ihdr = struct.pack(">II", width, height) + bytes(raw[24:29])
    raw[16:29] = ihdr
    raw[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(raw)


@pytest.mark.parametrize(
    ("size", "problem"),
    [((8000, 8000), "exceeds the limit"), ((30000, 30000), "decompression bomb")],
)
def test_decompression_bombs_are_refused_from_the_header(tmp_path, size, problem):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_with_size(*size))
    with pytest.raises(data.DataError, match=problem) as error:
        images.read_image(path)
    assert "bomb.png" in str(error.value)


# ---------------------------------------------------------------------------- odd but valid images


def image_file(tmp_path: Path, image: Image.Image, fmt="PNG") -> Path:
    path = tmp_path / f"odd_{image.mode.replace(';', '')}.{fmt.lower()}"
    image.save(path, format=fmt)
    return path


def test_grayscale_16bit_palette_rgba_become_rgb(tmp_path):
    grey = Image.new("L", (3, 2), 100)
    np.testing.assert_array_equal(images.read_image(image_file(tmp_path, grey)), 100)

    deep = Image.fromarray(np.full((2, 3), 0x8040, dtype=np.uint16))
    assert deep.mode.startswith("I;16")
    pixels = images.read_image(image_file(tmp_path, deep))
    assert pixels.shape == (2, 3, 3) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, 0x80)

    palette = Image.new("P", (2, 2))
    palette.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    palette.putpixel((1, 1), 1)
    pixels = images.read_image(image_file(tmp_path, palette))
    assert pixels[0, 0].tolist() == [10, 20, 30] and pixels[1, 1].tolist() == [200, 100, 50]

    rgba = Image.new("RGBA", (2, 1), (250, 120, 60, 255))
    rgba.putpixel((1, 0), (250, 120, 60, 0))
    pixels = images.read_image(image_file(tmp_path, rgba))
    assert pixels[0, 0].tolist() == [250, 120, 60] and pixels[0, 1].tolist() == [0, 0, 0]

    cmyk = Image.new("CMYK", (8, 8), (0, 0, 0, 0))
    assert images.read_image(image_file(tmp_path, cmyk, "JPEG")).shape == (8, 8, 3)


def test_tiny_and_non_square_images_are_padded_black_not_stretched(tmp_path):
    tall = Image.new("RGB", (2, 4), (255, 255, 255))
    files = {"image_1.jpg": png_bytes(tall), "image_2.jpg": png_bytes(Image.new("RGB", (1, 1))),
             "image_3.jpg": png_bytes(tall)}  # three: the fewest a train/test split allows
    write_set(tmp_path, "imageID,binaryLabels\nimage_1.jpg,0\nimage_2.jpg,1\nimage_3.jpg,0\n",
              files)
    (x, _), _ = data.load_glaucoma(tmp_path, image_size=4, normalize=False)
    np.testing.assert_array_equal(x[0, :, :, [0, 3]], 0)
    np.testing.assert_array_equal(x[0, :, :, 1:3], 255)
    assert images.read_image(tmp_path / "Images_Square" / "image_2.jpg").shape == (1, 1, 3)


# ---------------------------------------------------------------------------- fuzzing


@fuzz
@given(content=st.binary(max_size=2048))
def test_random_bytes_as_image_only_raise_data_error(tmp_path, content):
    path = tmp_path / "fuzz.jpg"
    path.write_bytes(content)
    try:
        pixels = images.read_image(path)
    except data.DataError as error:
        assert "fuzz.jpg" in str(error)
    else:
        assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3


VALID_IMAGES = [
    jpeg_bytes((24, 16)),
    png_bytes(Image.new("RGB", (12, 9), (1, 2, 3))),
    png_bytes(Image.new("P", (7, 5))),
]


@fuzz
@given(
    base=st.sampled_from(VALID_IMAGES),
    cut=st.integers(min_value=0, max_value=400),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
)
def test_damaged_images_only_raise_data_error(tmp_path, base, cut, flips):
    raw = bytearray(base[: max(len(base) - cut, 0)])
    for position, value in flips:
        if position < len(raw):
            raw[position] = value
    path = tmp_path / "damaged.jpg"
    path.write_bytes(bytes(raw))
    try:
        pixels = images.read_image(path)
    except data.DataError as error:
        assert "damaged.jpg" in str(error)
    else:
        assert pixels.dtype == np.uint8 and pixels.shape[2] == 3


def check_labels_or_data_error(folder: Path) -> None:
    try:
        labels = data.read_labels(folder)
    except data.DataError as error:
        assert "G1020.csv" in str(error)
    else:
        assert isinstance(labels, pd.DataFrame) and len(labels) > 0
        assert labels["binaryLabels"].isin([0, 1]).all()
        assert labels["imageID"].is_unique


@fuzz
@given(text=st.text(max_size=300))
def test_random_csv_text_only_raises_data_error(tmp_path, text):
    (tmp_path / "G1020.csv").write_text(text, encoding="utf-8", errors="surrogatepass")
    check_labels_or_data_error(tmp_path)


FIELDS = st.sampled_from(
    ["imageID", "binaryLabels", "image_1.jpg", "image_2.jpg", "0", "1", " 1.0", "0.5", "", '"', "x"]
)


@fuzz
@given(
    rows=st.lists(st.lists(FIELDS, max_size=4), max_size=6),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
)
def test_structured_csv_fuzz_only_raises_data_error(tmp_path, rows, newline, bom):
    text = newline.join(",".join(row) for row in [["imageID", "binaryLabels"], *rows])
    (tmp_path / "G1020.csv").write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    check_labels_or_data_error(tmp_path)


@fuzz
@given(raw=st.binary(max_size=300))
def test_random_csv_bytes_only_raise_data_error(tmp_path, raw):
    (tmp_path / "G1020.csv").write_bytes(raw)
    check_labels_or_data_error(tmp_path)


@pytest.mark.parametrize("n", [1, 2])
def test_too_few_images_for_a_test_split_is_a_clear_error(tmp_path, n):
    csv_text = "imageID,binaryLabels\n" + "".join(f"image_{i}.jpg,0\n" for i in range(n))
    folder = write_set(tmp_path, csv_text, good_images(n))
    with pytest.raises(data.DataError, match=f"{n} image.*at least 3.*test split would be empty"):
        data.load_glaucoma(data_dir=folder)
    with pytest.raises(ValueError, match="non-empty test split"):
        split.original_split([f"image_{i}.jpg" for i in range(n)])
    assert_nothing_cached()
    three = split.original_split(["image_0.jpg", "image_1.jpg", "image_2.jpg"])
    assert [len(part) for part in three] == [2, 1]
