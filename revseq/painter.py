"""Figures drawn by worker processes beside a run, so that its last second is not spent in
matplotlib: the workers start with the run, import revseq.plots (matplotlib and seaborn, most
of a second) at low priority on a core the run leaves idle, and draw the report's figures in
parallel once the run asks.

A figure is a call of a revseq.plots function by name, with its arguments (arrays, strings,
paths) sent to a worker; every file is written (atomically, by revseq.plots) before wait()
returns. Without a Painter, revseq.report_files draws in the calling process.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
from multiprocessing.pool import AsyncResult

WORKERS = 2  # figures drawn at once
NICE = 10  # the workers' lower priority: they never slow the run's own threads


class Painter:
    """A pool of WORKERS processes that draw revseq.plots figures; use it as a context manager
    (the pool is terminated on leaving it, a figure still being drawn or not)."""

    def __init__(self, workers: int = WORKERS):
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no JAX state forked
        self._pool = context.Pool(workers, initializer=_start_worker)
        self._pending: list[AsyncResult] = []

    def draw(self, function: str, *args) -> None:
        """Start revseq.plots.<function>(*args) on a free worker; returns at once."""
        self._pending.append(self._pool.apply_async(draw_now, (function, *args)))

    def wait(self) -> None:
        """Block until every figure asked for is written; a worker's error is raised here."""
        pending, self._pending = self._pending, []
        for result in pending:
            result.get()

    def __enter__(self) -> Painter:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.terminate()


def _start_worker() -> None:
    """A worker's start: lower its priority, then import the plotting modules."""
    with contextlib.suppress(AttributeError, OSError):  # no nice (Windows), or not allowed
        os.nice(NICE)
    importlib.import_module("revseq.plots")


def draw_now(function: str, *args) -> None:
    """revseq.plots.<function>(*args), in this process (a worker's, or the caller's)."""
    getattr(importlib.import_module("revseq.plots"), function)(*args)
