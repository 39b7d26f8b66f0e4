"""The memory probe sees what a child process really allocates, and reports failures."""

import numpy as np
import pytest

from glaucoma_lib.memory import peak_rss_mb


def test_peak_rss_is_the_childs_own():
    parent_ballast = np.ones(60_000_000)  # 458 MiB in this process must not count for the child
    small = peak_rss_mb("import numpy as np")
    large = peak_rss_mb("import numpy as np; a = np.ones(50_000_000)")  # 381 MiB touched
    assert parent_ballast.sum() > 0
    assert small < 200
    assert large > 381 and large - small > 350


def test_failing_case_is_an_error_not_a_number():
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        peak_rss_mb("1 / 0")
