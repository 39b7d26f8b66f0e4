"""The task runner: serial, the process pool and a Dask cluster give bit-identical results; a
Dask scheduler that cannot be used is one clear error, early, never a hang."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import planted

from glaucoma_lib import tasks
from glaucoma_lib.data import split
from glaucoma_lib.models.image_model import ImageRecipe
from glaucoma_lib.study import control, sweep

TINY = ImageRecipe(image_size=16, epochs=1, batch_size=10)


def small_cv(jobs=None, scheduler=None) -> np.ndarray:
    data = planted(n=30)
    data.folds = split.stratified_folds(data.t, 3, seed=0)
    return control.cnn_oof(data, TINY, seed=2, jobs=jobs, scheduler=scheduler)


def test_parallel_cv_is_bit_identical_to_serial():
    serial = small_cv(jobs=1)
    assert np.isfinite(serial).all()
    np.testing.assert_array_equal(small_cv(jobs=2), serial)


def test_jobs_come_from_the_argument_never_the_environment(monkeypatch):
    monkeypatch.setenv("JOBS", "3")
    assert tasks.default_jobs() == (os.cpu_count() or 1) and tasks.default_jobs(1) == 1
    with pytest.raises(ValueError, match="at least 1"):
        tasks.default_jobs(-2)


def test_the_pool_runs_tasks_in_fresh_processes_in_order():
    assert tasks.run_tasks(os.getpid, [()] * 4, jobs=2)[0] != os.getpid()
    assert tasks.run_tasks(divmod, [(7, 2), (9, 4), (1, 1)], jobs=2) == [(3, 1), (2, 1), (1, 0)]


@pytest.mark.parametrize("address", ["garbage", "http://127.0.0.1:8786", "ucx://127.0.0.1:8786",
                                     "tcp://127.0.0.1", "tcp://:8786", "tcp://h:99999",
                                     "tcp://h:8786/path"])
def test_malformed_scheduler_addresses_are_one_line_before_anything_runs(address, monkeypatch):
    monkeypatch.setenv(tasks.SCHEDULER_ENV, address)
    with pytest.raises(tasks.SchedulerError, match="is not a Dask scheduler address"):
        tasks.run_tasks(pytest.fail, [("a task ran",)])
    assert tasks.scheduler_address("tcp://127.0.0.1:8786") == "tcp://127.0.0.1:8786"


def test_unreachable_scheduler_fails_in_one_line_within_the_timeout(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(tasks, "CONNECT_SECONDS", 1.0)
    started = time.perf_counter()
    with pytest.raises(tasks.SchedulerError, match="no Dask scheduler answers at tcp://127"):
        tasks.check_scheduler("tcp://127.0.0.1:1")
    assert time.perf_counter() - started < 8


def test_sweep_checks_the_scheduler_before_loading_data(monkeypatch, capsys):
    monkeypatch.setattr(sweep, "find_data_dir", lambda *a: pytest.fail("data were loaded"))
    assert sweep.main(["--scheduler", "ucx://127.0.0.1:8786"]) == tasks.EXIT_SCHEDULER
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "ucx://127.0.0.1:8786" in err


def test_scheduler_without_workers_times_out_instead_of_hanging(monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.setattr(tasks, "NO_WORKER_SECONDS", 1.0)
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp",
                                  dashboard_address=None) as cluster:
        with pytest.raises(tasks.SchedulerError, match="has no workers"):
            tasks.run_tasks(divmod, [(7, 2)], scheduler=cluster.scheduler_address)


@pytest.mark.slow
def test_tasks_whose_workers_all_died_fail_instead_of_hanging(monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.setattr(tasks, "NO_WORKER_SECONDS", 2.0)
    monkeypatch.setattr(tasks, "POLL_SECONDS", 0.5)
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp",
                                  dashboard_address=None) as cluster:
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker",
                                   cluster.scheduler_address, "--no-nanny", "--nthreads", "1",
                                   "--no-dashboard"], stderr=subprocess.DEVNULL)
        try:
            killer = threading.Timer(6.0, worker.kill)  # once the task is running on it
            killer.start()
            started = time.perf_counter()
            with pytest.raises(tasks.SchedulerError, match="every worker .* is gone"):
                tasks.run_tasks(time.sleep, [(120,)], scheduler=cluster.scheduler_address)
            assert time.perf_counter() - started < 30
        finally:
            killer.cancel()
            worker.kill()
            worker.wait()


@pytest.mark.slow
def test_dask_cluster_cv_is_bit_identical_to_serial():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        on_cluster = small_cv(scheduler=cluster.scheduler_address)
    np.testing.assert_array_equal(on_cluster, small_cv(jobs=1))
