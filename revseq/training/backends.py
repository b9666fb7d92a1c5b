"""What a backend provides (the Backend protocol), and `--backend` as a dictionary lookup: a
backend's framework is imported only when chosen."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from revseq.errors import RevseqError
from revseq.task.batching import Batch
from revseq.task.config import Config

BACKENDS = {"jax": "revseq_jax.backend", "torch": "revseq_torch.backend"}
EXTRAS = {"jax": "jax", "torch": "torch"}


class Backend(Protocol):
    """A framework's side of a run: revseq_jax.backend.Backend and revseq_torch.backend.Backend.
    A state is the framework's training state, params its model; everything crossing into the
    core is numpy, named as the notebook's state_dict."""

    name: str  # "jax" or "torch"
    cfg: Config
    device_count: int  # devices each batch is split over
    where: str  # "1 cpu device", "2 cpu devices of 2 processes", ...

    def init(self) -> Any:
        """A fresh training state from the run's seed (revseq.task.init)."""

    def start(self, params: dict[str, np.ndarray]) -> Any:
        """A training state starting from these params."""

    def compile(self, state: Any, train_batches: Sequence[Batch]) -> None:
        """Compile the train step for every batch shape now (a no-op where nothing compiles)."""

    def train_epoch(
        self,
        state: Any,
        batches: Sequence[Batch],
        progress: Callable[[int], None] = ...,
        stop: Callable[[], bool] = ...,
        start: dict | None = None,
    ) -> tuple[Any, dict]:
        """A pass over the batches until stop() -> (state, metric sums)."""

    def snapshot(self, state: Any) -> dict[str, np.ndarray]:
        """The whole training state as named arrays (revseq.training.resume)."""

    def restore(self, arrays: dict[str, np.ndarray]) -> Any:
        """Inverse of snapshot."""

    def evaluate(self, state: Any, batches: Sequence[Batch]) -> dict:
        """Free-running sums {"loss_sum", "count", "exact"} over the batches."""

    def params(self, state: Any) -> Any:
        """The model params of a training state."""

    def decode(
        self,
        params: Any,
        src: np.ndarray,
        beam: int = 1,
        length_penalty: float = 0.0,
        attention: str = "model",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tokens [B, T] and attention [B, T, S]: greedy, beam search, or an ablation rule."""

    def to_numpy(self, params: Any) -> dict[str, np.ndarray]:
        """Params as named numpy arrays."""

    def from_numpy(self, arrays: dict[str, np.ndarray]) -> Any:
        """Named numpy arrays as params."""


def load(name: str, cfg: Config, steps_per_epoch: int = 1, devices: int | None = 1) -> Backend:
    """A backend for this config; steps_per_epoch sets the length of an lr schedule, devices
    how many local devices share each batch (JAX; None: all of them)."""
    if name not in BACKENDS:
        raise RevseqError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return _module(name).Backend(cfg, steps_per_epoch, devices)


def _module(name: str):
    """The backend's module; RevseqError saying what to install when its framework is not."""
    try:
        return importlib.import_module(BACKENDS[name])
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] == EXTRAS[name]:
            raise RevseqError(missing(name)) from None
        raise


def missing(name: str, what: str = "") -> str:
    """The line that says what to install for backend `name` (or for `what` that needs it)."""
    extra = EXTRAS[name]
    what = what or f"backend {name!r}"
    return f"{what} needs {extra}, which is not installed: pip install -e '.[{extra}]'"


def installed(name: str) -> bool:
    """Whether backend `name`'s framework can be imported here."""
    try:
        _module(name)
    except RevseqError:
        return False
    return True


def use_compilation_cache(path: str) -> None:
    """JAX's persistent compilation cache in `path` for this process, when jax is installed
    (revseq_jax.backend.use_compilation_cache); torch compiles nothing ahead."""
    try:
        module = importlib.import_module(BACKENDS["jax"])
    except ModuleNotFoundError:
        return
    module.use_compilation_cache(path)
