"""Independent experiment tasks (cross-validation folds, seeds, learning-curve points) run side by
side: in joblib's process pool here, or on an existing Dask cluster when one is given.

Every task runs with one BLAS thread and carries its own seed, so the results are bit-identical
to a serial run, whatever the number of workers.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Sequence
from typing import Any

from threadpoolctl import threadpool_limits

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
# For processes started beside others (notebook kernels, memory probes): one BLAS thread each.
ONE_BLAS_THREAD = {name: "1" for name in
                   ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def default_jobs(jobs: int | None = None) -> int:
    """``jobs``, else $JOBS, else every core."""
    if jobs is None:
        jobs = int(os.environ.get("JOBS", 0)) or os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, numbers.Integral) or jobs < 1:
        raise ValueError(f"jobs must be a whole number of at least 1, got {jobs!r}")
    return int(jobs)


def one_thread(fn: Callable, *args: Any) -> Any:
    """fn(*args) with BLAS (and so the engine's chunk threads) limited to one thread."""
    with threadpool_limits(limits=1):
        return fn(*args)


def run_tasks(fn: Callable, tasks: Sequence[tuple], jobs: int | None = None,
              scheduler: str | None = None) -> list:
    """[fn(*task) for task in tasks], in order, spread over workers.

    ``scheduler`` (or $DASK_SCHEDULER_ADDRESS), e.g. tcp://host:8786, sends the tasks to that
    Dask cluster; otherwise ``jobs`` local processes (loky), one task at a time in this process
    when jobs is 1.
    """
    jobs = default_jobs(jobs)  # checked even when a cluster is used, so a bad value never hides
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV)
    if scheduler:
        return _on_dask(fn, tasks, scheduler)
    jobs = min(jobs, max(len(tasks), 1))
    if jobs == 1:
        return [one_thread(fn, *task) for task in tasks]
    from joblib import Parallel, delayed  # deferred: only parallel runs need it

    return Parallel(n_jobs=jobs, backend="loky")(delayed(one_thread)(fn, *t) for t in tasks)


def _on_dask(fn: Callable, tasks: Sequence[tuple], scheduler: str) -> list:
    try:
        from distributed import Client  # optional: pip install -e '.[cluster]'
    except ImportError:
        raise SystemExit(f"a Dask scheduler was given ({scheduler}) but dask.distributed is not "
                         "installed: pip install -e '.[cluster]'") from None
    with Client(scheduler) as client:
        futures = [client.submit(one_thread, fn, *task, pure=False) for task in tasks]
        return client.gather(futures)
