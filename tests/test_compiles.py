"""What a JAX run compiles, and when: the train step for every batch shape before the first
epoch (nothing while epochs train), and each decoder once, at its first call (greedy decoding
reuses validation's compiled decoder); a second pass over the same shapes compiles nothing."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from revseq.report import probes
from revseq.task.config import preset
from revseq.task.conventions import EVAL_BATCH
from revseq.training.run import epoch_batches, prepare
from revseq_jax.backend import Backend

CFG = preset("tiny").replace(n_train=256, n_val=64, n_test=64)


class Compilations:
    """XLA compilations in this process while listening (a jax.monitoring listener)."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self):
        self.count = 0

    def __call__(self, event: str, duration: float, **kwargs) -> None:
        self.count += event == self.EVENT


@pytest.fixture
def compilations():
    """A Compilations listening for the test; the in-memory caches are cleared and the
    persistent cache (conftest.py) is off, since a program found in either is not compiled and
    the counts would depend on other tests."""
    counter = Compilations()
    jax.clear_caches()  # what other tests of this process compiled must be compiled again
    jax.config.update("jax_enable_compilation_cache", False)
    jax.monitoring.register_event_duration_secs_listener(counter)
    yield counter
    jax.monitoring.unregister_event_duration_listener(counter)
    jax.config.update("jax_enable_compilation_cache", True)


def report_decodes(backend, params, widths, edges) -> None:
    """The decodes a run's report makes: greedy at every width, the ablation's fixed rules at
    the training lengths."""
    for w in widths:
        src = np.zeros((EVAL_BATCH, w), np.int32)
        src[:, :2] = [5, 2]  # a word, then <EOS>
        backend.decode(params, src)
        if w in edges:
            for rule in ("uniform", "mirror"):
                backend.decode(params, src, attention=rule)


@pytest.mark.integration  # the second tier: the first keeps its budget
def test_nothing_compiles_twice(compilations):
    rng = np.random.default_rng(0)
    task = prepare(CFG, rng)
    batches = epoch_batches(CFG, data=task.train, edges=task.edges, rng=rng)
    assert len({b.src.shape for b in batches}) == 2  # two buckets: two train shapes
    backend = Backend(CFG, len(batches))
    state = backend.init()
    backend.compile(state, batches)
    assert compilations.count >= 2  # the count works
    before = compilations.count
    for _ in range(2):
        state, _ = backend.train_epoch(
            state, epoch_batches(CFG, data=task.train, edges=task.edges, rng=rng)
        )
    assert compilations.count == before  # the train step was compiled for every shape ahead

    backend.evaluate(state, task.val_batches)
    validated = compilations.count
    params = backend.params(state)
    widths = probes.decode_edges(CFG.data, task.edges)
    assert len(widths) == len(task.edges) + 1  # one shape more holds every longer probe
    for w in sorted({b.src.shape[1] for b in task.val_batches}):
        backend.decode(params, np.zeros((EVAL_BATCH, w), np.int32))
    assert compilations.count == validated  # greedy decoding reuses validation's decoder

    report_decodes(backend, params, widths, task.edges)
    assert compilations.count > validated  # the probes' longer shape and the ablation
    decoded = compilations.count
    backend.evaluate(state, task.val_batches)
    report_decodes(backend, params, widths, task.edges)
    assert compilations.count == decoded  # each decoder compiled once, not per call
