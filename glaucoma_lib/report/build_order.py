"""In what order the report build runs its notebooks, and which of them side by side.

Notebooks run in their numbered order, each after every notebook before it, except the pairs
listed in SIDE_BY_SIDE: neither reads what the other writes (run records, the final model; the
image caches are written atomically), so the build may run them at the same time. A notebook
that is not listed, such as a new one, simply waits for all before it. The benchmark notebook
runs ALONE, since it times the machine.

Most notebooks use one core for part of their time (loading, plotting, one process left when
another finished), so two at a time fill the second core. On the 2-core build machine that
gained only about 5% (paired builds), since notebooks 04 and 06 together already keep both
cores busy; more cores gain more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

from glaucoma_lib.tasks import task_pool

SIDE_BY_SIDE = {
    "02_splitting": {"01_data_selection"},
    # the improved model (and the positive control, which applies it) need nothing of the
    # original network's runs; the results and the evaluation read those runs' records
    "06_improved_model": {"04_training", "05_results"},
    # the evaluation reads the improved model's runs only (the reproduction runs are in 05)
    "07_evaluation": {"04_training", "05_results"},
    "08_positive_control": {"04_training", "05_results", "07_evaluation"},
    # the signal study reads no other notebook's runs and writes only its own record and model
    "09_where_is_the_signal": {"04_training", "05_results", "06_improved_model", "07_evaluation",
                               "08_positive_control"},
    # results, evaluation and the signal study write nothing the memory probe or the checks read
    "10_trust": {"05_results", "07_evaluation", "09_where_is_the_signal"},
}
ALONE = {"03_numpy_cnn"}


def needs(notebooks: Sequence[str]) -> dict[str, set[str]]:
    """For each notebook (stem), the notebooks that must be done before it starts."""
    return {name: set(notebooks[:k]) - SIDE_BY_SIDE.get(name, set())
            for k, name in enumerate(notebooks)}


def run_in_order(notebooks: Sequence[Path], run: Callable[[Path], Any], slots: int) -> dict:
    """run(notebook) for every notebook, at most `slots` at a time in the task pool's worker
    processes, in the order `needs` allows; results by notebook. With one slot, in this
    process, in order.

    The first failure is raised once the notebooks already running have finished.
    """
    if slots <= 1:
        return {nb: run(nb) for nb in notebooks}
    order = needs([nb.stem for nb in notebooks])
    waiting, running, done = list(notebooks), {}, {}
    pool = task_pool(slots)
    while waiting or running:
        for nb in startable(waiting, running, {nb.stem for nb in done}, order, slots):
            waiting.remove(nb)
            running[nb] = pool.submit(run, nb)
        if not running:
            raise RuntimeError(f"notebooks that can never start: {waiting}")
        finished, _ = wait(running.values(), return_when=FIRST_COMPLETED)
        for nb in [nb for nb, future in running.items() if future in finished]:
            done[nb] = _result(running.pop(nb), running)
    return {nb: done[nb] for nb in notebooks}


def startable(waiting: list[Path], running: dict[Path, Future], done: set[str],
               order: dict[str, set[str]], slots: int) -> list[Path]:
    """The waiting notebooks to start now, first come first: their needs are done, a slot is
    free, and neither they nor a running notebook must run alone."""
    started: list[Path] = []
    busy = [nb.stem for nb in running]
    for nb in waiting:
        if len(busy) + len(started) >= slots or any(name in ALONE for name in busy):
            break
        if nb.stem in ALONE and (busy or started):
            break  # an ALONE notebook keeps its place: nothing after it starts first
        if order[nb.stem] <= done:
            started.append(nb)
            if nb.stem in ALONE:
                break
    return started


def _result(future: Future, running: dict[Path, Future]) -> Any:
    """The future's result; on failure, first let the other running notebooks finish."""
    error = future.exception()
    if error is not None:
        wait(running.values())
        raise error
    return future.result()
