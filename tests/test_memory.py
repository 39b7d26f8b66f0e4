"""The memory probe sees what a child process really allocates, and reports failures; training
and prediction do not hold a batch's activations longer than needed."""

import numpy as np
import pytest

from glaucoma_lib.models.kinds import WEIGHTS_PATH
from glaucoma_lib.study import memory
from glaucoma_lib.study.memory import peak_rss_mb


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


def test_training_and_evaluation_do_not_hold_spent_activations():
    imports = peak_rss_mb("import numpy; from glaucoma_lib.nn.network import DeepConvNet")
    trained = peak_rss_mb("""
import numpy as np
from glaucoma_lib.nn.network import DeepConvNet
from glaucoma_lib.nn.optim import Adam
net, opt = DeepConvNet(), Adam(lr=0.001)
x = np.random.default_rng(0).random((100, 3, 64, 64), dtype=np.float32)
t = np.arange(100) % 2
for i in (0, 50):
    opt.update(net.params, net.gradient(x[i:i + 50], t[i:i + 50]))
net.predict_proba(x, batch_size=100)
""")
    # ~90 MiB above the imports; ~155 when each layer kept its caches after backward and
    # test-mode forward kept a batch of 100's activations for a backward that never comes
    assert trained - imports < 120


def test_the_probe_runs_its_child_with_one_blas_thread():
    peak_rss_mb("import numpy\nfrom threadpoolctl import threadpool_info\n"
                "blas = [d for d in threadpool_info() if d['user_api'] == 'blas']\n"
                "assert blas and all(d['num_threads'] == 1 for d in blas), blas")


@pytest.fixture(scope="module")
def hostile_cases(tmp_path_factory):
    return memory.hostile_cases(tmp_path_factory.mktemp("hostile"))


def test_hostile_cases_refuse_as_their_rows_say(hostile_cases):
    """Each case's code asserts its outcome; run here in-process (no child, no peak)."""
    assert [kind for _, kind, _ in hostile_cases] == ["hostile input"] * 5
    for case, _, code in hostile_cases[1:]:  # the 4000x4000 decode is measured below, slow
        exec(compile(code, case, "exec"), {})  # noqa: S102 - our own code, to skip a child
    with pytest.raises(AssertionError, match="the model file was loaded"):  # it can fail:
        exec(memory._LOAD_MODEL.format(path=str(WEIGHTS_PATH)), {})  # noqa: S102 the real model


@pytest.mark.slow
def test_the_largest_accepted_image_stays_under_half_a_gigabyte(hostile_cases):
    case, _, code = hostile_cases[0]
    assert "4000x4000" in case
    assert 300 < peak_rss_mb(code) < 512  # 449 MiB measured: a 64 MB RGBA decode and its copies
