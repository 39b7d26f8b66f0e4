"""Work run side by side, by one mechanism: a pool of worker processes (loky, the pool joblib
uses; each worker a fresh interpreter, never a fork of a process with live BLAS threads). The
experiments' tasks (folds, seeds, permutations), the two reproduction runs and the report's
notebooks all go through task_pool; experiment tasks may go to an existing Dask cluster instead.

Every experiment task runs with one BLAS thread and carries its own seed, so the results are
bit-identical to a serial run, whatever the number of workers or where they run.

A process that starts such work and is told to stop (SIGTERM, SIGINT, SIGHUP) takes every
process it started down with it: see stop_with_children.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from typing import Any
from urllib.parse import urlsplit

from threadpoolctl import threadpool_limits

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
SCHEDULER_SCHEMES = ("tcp", "tls")  # what a Dask scheduler listens on across machines
CONNECT_SECONDS = 10.0  # to reach the scheduler
NO_WORKER_SECONDS = 30.0  # a scheduler without any worker this long is given up on
POLL_SECONDS = 2.0
EXIT_SCHEDULER = 3  # exit code of a command whose Dask scheduler cannot be used
IDLE_SECONDS = 300  # an idle pool worker exits after this (joblib's own default)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# For processes started beside others (notebook kernels, memory probes): one BLAS thread each.
ONE_BLAS_THREAD = {name: "1" for name in
                   ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


class SchedulerError(Exception):
    """A Dask scheduler that cannot be used: a malformed address, no answer, or no workers."""


def default_jobs(jobs: int | None = None) -> int:
    """``jobs``, else every core. Only an argument sets it (notebooks take it as a parameter),
    never the environment, so what a build was told is what every notebook runs with."""
    if jobs is None:
        jobs = os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, numbers.Integral) or jobs < 1:
        raise ValueError(f"jobs must be a whole number of at least 1, got {jobs!r}")
    return int(jobs)


def task_pool(jobs: int) -> Executor:
    """A pool of ``jobs`` worker processes (concurrent.futures interface). The pool is kept for
    the next call of this process, so workers and their imports are reused; idle workers exit
    after IDLE_SECONDS, and with the process that started them."""
    from joblib.externals.loky import get_reusable_executor  # deferred: only pools need it

    return get_reusable_executor(max_workers=default_jobs(jobs), timeout=IDLE_SECONDS)


def one_thread(fn: Callable, *args: Any) -> Any:
    """fn(*args) with BLAS (and so the engine's chunk threads) limited to one thread."""
    with threadpool_limits(limits=1):
        return fn(*args)


def run_tasks(fn: Callable, tasks: Sequence[tuple], jobs: int | None = None,
              scheduler: str | None = None) -> list:
    """[fn(*task) for task in tasks], in order, spread over workers.

    ``scheduler`` (or $DASK_SCHEDULER_ADDRESS), e.g. tcp://host:8786, sends the tasks to that
    Dask cluster; otherwise ``jobs`` local worker processes, one task at a time in this process
    when jobs is 1.
    """
    jobs = default_jobs(jobs)  # checked even when a cluster is used, so a bad value never hides
    address = scheduler_address(scheduler)
    if address:
        return _on_dask(fn, tasks, address)
    jobs = min(jobs, max(len(tasks), 1))
    if jobs == 1:
        return [one_thread(fn, *task) for task in tasks]
    pool = task_pool(jobs)
    return [future.result() for future in [pool.submit(one_thread, fn, *t) for t in tasks]]


# ------------------------------------------------------------------------------------- Dask


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The Dask scheduler to use (the argument, else $DASK_SCHEDULER_ADDRESS), checked to be
    SCHEME://HOST:PORT with a scheme of SCHEDULER_SCHEMES; None when none is named."""
    address = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if address is None:
        return None
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        port = None
    if (parts.scheme not in SCHEDULER_SCHEMES or not parts.hostname or port is None
            or parts.path not in ("", "/") or parts.query or parts.fragment):
        raise SchedulerError(
            f"{address!r} is not a Dask scheduler address: expected "
            f"{' or '.join(f'{s}://HOST:PORT' for s in SCHEDULER_SCHEMES)}, e.g. tcp://127.0.0.1:8786")
    return address


def _client(address: str):
    """A Client of the scheduler at ``address`` that has at least one worker, or SchedulerError
    within CONNECT_SECONDS + NO_WORKER_SECONDS."""
    try:
        from distributed import Client  # optional: pip install -e '.[cluster]'
    except ImportError:
        raise SchedulerError(f"a Dask scheduler was given ({address}) but dask.distributed is "
                             "not installed: pip install -e '.[cluster]'") from None
    try:
        client = Client(address, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError):
        raise SchedulerError(f"no Dask scheduler answers at {address} "
                             f"(waited {CONNECT_SECONDS:.0f} s)") from None
    try:
        client.wait_for_workers(1, timeout=NO_WORKER_SECONDS)
    except TimeoutError:
        client.close()
        raise SchedulerError(f"the Dask scheduler at {address} has no workers (waited "
                             f"{NO_WORKER_SECONDS:.0f} s): start one with `dask worker "
                             f"{address}`") from None
    return client


def check_scheduler(scheduler: str | None = None) -> str | None:
    """Fail early, before any data are loaded: the named scheduler (if any) must be well formed,
    answer and have a worker. Returns the address, None when no scheduler is named."""
    address = scheduler_address(scheduler)
    if address:
        _client(address).close()
    return address


def _on_dask(fn: Callable, tasks: Sequence[tuple], address: str) -> list:
    from distributed import KilledWorker, wait

    with _client(address) as client:
        futures = [client.submit(one_thread, fn, *task, pure=False) for task in tasks]
        workerless_since = None
        while True:
            try:
                wait(futures, timeout=POLL_SECONDS)
                return client.gather(futures)
            except KilledWorker as err:
                raise SchedulerError(f"a task died with its Dask worker at {address} every time "
                                     f"it was tried ({err})") from None
            except TimeoutError:
                if client.scheduler_info()["workers"]:
                    workerless_since = None
                elif workerless_since is None:
                    workerless_since = time.monotonic()
                elif time.monotonic() - workerless_since > NO_WORKER_SECONDS:
                    left = sum(not f.done() for f in futures)
                    raise SchedulerError(
                        f"every worker of the Dask scheduler at {address} is gone ({left} of "
                        f"{len(futures)} tasks unfinished after {NO_WORKER_SECONDS:.0f} s "
                        "without workers)") from None


# ---------------------------------------------------------------------- stopping with children


def descendants(root: int) -> set[int]:
    """Every process below ``root`` (children, their children, ...), from the process table."""
    with subprocess.Popen(["ps", "-A", "-o", "pid=", "-o", "ppid="], stdout=subprocess.PIPE,
                          text=True) as ps:
        listing, _ = ps.communicate()
    children: dict[int, list[int]] = {}
    for line in listing.splitlines():
        pid, ppid = map(int, line.split())
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child != ps.pid:  # the listing's own process, gone by now
                found.add(child)
                todo.append(child)
    return found


def kill_descendants(root: int | None = None) -> set[int]:
    """Kill every process below ``root`` (default: this one). Each is stopped first, and the
    table read again until no new process appears, so none can start another or write a file
    between being found and being killed; then all are killed at once. Returns their ids."""
    root = os.getpid() if root is None else root
    stopped: set[int] = set()
    while found := descendants(root) - stopped:
        for pid in found:
            _signal(pid, signal.SIGSTOP)
        stopped |= found
    for pid in stopped:
        _signal(pid, signal.SIGKILL)
    return stopped


def _signal(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except (ProcessLookupError, PermissionError):
        pass  # already gone, or no longer ours


@contextlib.contextmanager
def stop_with_children() -> Iterator[None]:
    """Within: on SIGTERM, SIGINT or SIGHUP, kill every process this one started (notebook
    kernels, pool workers and theirs: kernels run in sessions of their own, so no signal reaches
    them through the process group), say so in one line and exit at once with 128 + the
    signal's number, writing nothing more. From the main thread; the previous handlers are put
    back on the way out."""
    previous = {number: signal.signal(number, _stop) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _stop(number: int, _frame: Any) -> None:
    killed = kill_descendants()
    print(f"\nstopped by {signal.Signals(number).name}: {len(killed)} child processes killed",
          file=sys.stderr, flush=True)
    os._exit(128 + number)
