"""Figures drawn by worker processes beside a run, so that its last second is not spent in
matplotlib: the run starts the workers once a core is idle (after its first epoch), they
import revseq.plots (matplotlib and seaborn, most of a second) at low priority while it
trains on, and draw the report's figures in parallel once it asks.

A figure is a call of a revseq.plots function by name, with its arguments (arrays, strings,
paths) sent to a worker; every file is written (atomically, by revseq.plots) before wait()
returns. Without a Painter, revseq.report_files draws in the calling process.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import multiprocessing.pool
import os
from multiprocessing.pool import AsyncResult

WORKERS = 2  # figures drawn at once
NICE = 10  # the workers' lower priority: they never slow the run's own threads


class Painter:
    """A pool of `workers` processes that draw revseq.plots figures, started by start() or the
    first draw(); use it as a context manager (the pool is terminated on leaving it, a figure
    still being drawn or not)."""

    def __init__(self, workers: int = WORKERS):
        self._workers = workers
        self._pool: multiprocessing.pool.Pool | None = None
        self._pending: list[AsyncResult] = []

    def start(self) -> None:
        """Start the workers (once); they import the plotting modules and wait for figures."""
        if self._pool is None:
            context = multiprocessing.get_context("spawn")  # a fresh interpreter: no JAX state
            self._pool = context.Pool(self._workers, initializer=_start_worker)

    def draw(self, function: str, *args) -> None:
        """Start revseq.plots.<function>(*args) on a free worker; returns at once."""
        self.start()
        self._pending.append(self._pool.apply_async(draw_now, (function, *args)))

    def wait(self) -> None:
        """Block until every figure asked for is written; a worker's error is raised here."""
        pending, self._pending = self._pending, []
        for result in pending:
            result.get()

    def __enter__(self) -> Painter:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.terminate()


def _start_worker() -> None:
    """A worker's start: lower its priority, import the plotting modules, draw a first figure
    into memory (revseq.plots.warm_up)."""
    with contextlib.suppress(AttributeError, OSError):  # no nice (Windows), or not allowed
        os.nice(NICE)
    draw_now("warm_up")


def draw_now(function: str, *args) -> None:
    """revseq.plots.<function>(*args), in this process (a worker's, or the caller's)."""
    getattr(importlib.import_module("revseq.plots"), function)(*args)
