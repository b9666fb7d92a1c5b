"""What a JAX run compiles, and when: the decoders that validation and the report run are
compiled on a second thread while the first epoch trains, once each, so that nothing compiles
after training (the test decode, the probes of unseen lengths, the attention ablation)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from revseq import probes
from revseq.config import preset
from revseq.conventions import EVAL_BATCH
from revseq.run import epoch_batches, prepare
from revseq_jax.backend import Backend

CFG = preset("tiny").replace(n_train=256, n_val=64, n_test=64)


class Compiles:
    """Counts XLA compilations while it is entered (a jax.monitoring listener)."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self):
        self.count = 0

    def __call__(self, event: str, duration: float, **kwargs) -> None:
        self.count += event == self.EVENT

    def __enter__(self) -> Compiles:
        jax.monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc) -> None:
        jax.monitoring.unregister_event_duration_listener(self)


@pytest.fixture
def compiles():
    """A Compiles counting for the test's duration."""
    with Compiles() as counter:
        yield counter


def test_the_report_decodes_without_compiling(compiles):
    rng = np.random.default_rng(0)
    task = prepare(CFG, rng)
    batches = epoch_batches(CFG, task.train, task.edges, rng)
    backend = Backend(CFG, len(batches))
    state = backend.init()
    widths = probes.decode_edges(CFG.data, task.edges)
    assert len(widths) == len(task.edges) + 1  # one shape more holds every longer probe
    before = compiles.count
    backend.compile(state, batches, task.val_batches, widths)
    state, _ = backend.train_epoch(state, batches)
    backend.evaluate(state, task.val_batches)
    params = backend.params(state)
    backend.decode(params, np.zeros((EVAL_BATCH, widths[0]), np.int32))  # waits for the thread
    compiled = compiles.count
    assert compiled > before  # the count works
    for w in widths:
        src = np.zeros((EVAL_BATCH, w), np.int32)
        src[:, :2] = [5, 2]  # a word, then <EOS>
        backend.decode(params, src)
        if w in task.edges:
            for rule in ("uniform", "mirror"):
                backend.decode(params, src, attention=rule)
    assert compiles.count == compiled
