"""A failed write keeps the old file and leaves no temp file behind."""

import pytest

from glaucoma_lib.nn.atomic import atomic_write


def test_complete_write_replaces_file(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_write(target, "w", encoding="utf-8") as fh:
        fh.write("new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_failed_write_keeps_previous_version(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write(b"half")
        raise RuntimeError("disk full, say")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
