"""The task runner: serial, joblib processes and a Dask cluster give bit-identical results."""

import numpy as np
import pytest
from conftest import planted

from glaucoma_lib import tasks
from glaucoma_lib.data import split
from glaucoma_lib.models.image_model import ImageRecipe
from glaucoma_lib.study import control

TINY = ImageRecipe(image_size=16, epochs=1, batch_size=10)


def small_cv(jobs=None, scheduler=None) -> np.ndarray:
    data = planted(n=30)
    data.folds = split.stratified_folds(data.t, 3, seed=0)
    return control.cnn_oof(data, TINY, seed=2, jobs=jobs, scheduler=scheduler)


def test_parallel_cv_is_bit_identical_to_serial():
    serial = small_cv(jobs=1)
    assert np.isfinite(serial).all()
    np.testing.assert_array_equal(small_cv(jobs=2), serial)


def test_jobs_come_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.setenv("JOBS", "3")
    assert tasks.default_jobs() == 3 and tasks.default_jobs(1) == 1
    with pytest.raises(ValueError, match="at least 1"):
        tasks.default_jobs(-2)


@pytest.mark.slow
def test_dask_cluster_cv_is_bit_identical_to_serial():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        on_cluster = small_cv(scheduler=cluster.scheduler_address)
    np.testing.assert_array_equal(on_cluster, small_cv(jobs=1))
