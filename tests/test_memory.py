"""The memory probe sees what a child process really allocates, and reports failures."""

import pytest

from glaucoma_lib.memory import peak_rss_mb


def test_peak_rss_sees_a_large_allocation():
    small = peak_rss_mb("import numpy as np")
    large = peak_rss_mb("import numpy as np; a = np.ones(50_000_000)")  # 381 MiB touched
    assert large > 381 and large - small > 250


def test_failing_case_is_an_error_not_a_number():
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        peak_rss_mb("1 / 0")
