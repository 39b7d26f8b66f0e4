"""The bench's one-line verdict: both epoch times and their ratio, or a clear skip without torch."""
import sys

from glaucoma_lib.nn import bench


def test_ratio_line_prints_both_times_and_the_ratio():
    line = bench.ratio_line({"numpy_seconds_per_epoch": 3.0, "torch_seconds_per_epoch": 2.0,
                             "numpy_over_torch": 1.5, "numpy_over_torch_paired_median": 1.45})
    assert line == ("NumPy 3000 ms/epoch, PyTorch 2000 ms/epoch: ratio 1.50 "
                    "(per-pair median 1.45)")


def test_comparison_is_skipped_with_a_line_when_torch_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert bench.torch_comparison(repeats=1, iterations=1) is None
    assert "skipped: torch is not installed" in bench.ratio_line(None)
