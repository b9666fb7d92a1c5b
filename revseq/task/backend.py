"""What a backend provides: the Backend protocol that revseq_jax.backend.Backend and
revseq_torch.backend.Backend satisfy (mypy checks both: `python -m mypy`, CONTRIBUTING.md).

A state is the framework's training state, params its model; everything crossing into the
core is numpy, named as the notebook's state_dict. Shapes: B batch, S source, T decoder steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np

from revseq.task.batching import Batch
from revseq.task.config import Config

OnCall = Callable[[int, dict], None]  # (batches done, that call's metric sums) -> None


class Backend(Protocol):
    """A framework's side of a run, and of every tool that decodes."""

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
        *,
        on_call: OnCall = ...,
        stop: Callable[[], bool] = ...,
        start: dict | None = None,
    ) -> tuple[Any, dict]:
        """A pass over the batches until stop() -> (state, metric sums added onto `start`:
        "loss_sum", "count", "grad_norm", "updates", "nonfinite", and "batches" run);
        on_call after each compiled call (or each chunk of steps)."""

    def learning_rate(self, step: int) -> float:
        """The rate the run's schedule gives after `step` updates."""

    def snapshot(self, state: Any) -> dict[str, np.ndarray]:
        """The whole training state as named arrays (revseq.training.resume)."""

    def restore(self, arrays: dict[str, np.ndarray]) -> Any:
        """Inverse of snapshot."""

    def evaluate(self, state: Any, batches: Sequence[Batch]) -> dict:
        """Free-running sums {"loss_sum", "count", "exact", "aligned", "word_steps"}."""

    def params(self, state: Any) -> Any:
        """The model params of a training state."""

    def decode(
        self,
        params: Any,
        src: np.ndarray,
        *,
        beam: int = 1,
        length_penalty: float = 0.0,
        attention: str = "model",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tokens [B, T] and attention [B, T, S]: greedy, beam search, or an ablation rule."""

    def to_numpy(self, params: Any) -> dict[str, np.ndarray]:
        """Params as named numpy arrays."""

    def from_numpy(self, arrays: dict[str, np.ndarray]) -> Any:
        """Named numpy arrays as params."""

    def describe(self) -> list[str]:
        """Lines naming the platform, the devices it sees and those it uses (revseq doctor)."""

    def exact_matmuls(self) -> AbstractContextManager:
        """A context in which float32 matmuls run at full precision (for comparing numbers)."""
