"""What a JAX run compiles, and when: the decoders that validation and the report run are
compiled on a second thread while the first epoch trains, once each, so that nothing compiles
after training (the test decode, the probes of unseen lengths, the attention ablation)."""

from __future__ import annotations

import numpy as np

from benchmarks.jax_bench import compilations
from revseq import probes
from revseq.config import preset
from revseq.conventions import EVAL_BATCH
from revseq.run import epoch_batches, prepare
from revseq_jax.backend import Backend

CFG = preset("tiny").replace(n_train=256, n_val=64, n_test=64)


def test_the_report_decodes_without_compiling():
    compilations()  # starts the count
    rng = np.random.default_rng(0)
    task = prepare(CFG, rng)
    batches = epoch_batches(CFG, task.train, task.edges, rng)
    backend = Backend(CFG, len(batches))
    state = backend.init()
    widths = probes.decode_edges(CFG.data, task.edges)
    assert len(widths) == len(task.edges) + 1  # one shape more holds every longer probe
    before = compilations()
    backend.compile(state, batches, task.val_batches, widths)
    state, _ = backend.train_epoch(state, batches)
    backend.evaluate(state, task.val_batches)
    params = backend.params(state)
    backend.decode(params, np.zeros((EVAL_BATCH, widths[0]), np.int32))  # waits for the thread
    compiled = compilations()
    assert compiled > before  # the count works
    for w in widths:
        src = np.zeros((EVAL_BATCH, w), np.int32)
        src[:, :2] = [5, 2]  # a word, then <EOS>
        backend.decode(params, src)
        if w in task.edges:
            for rule in ("uniform", "mirror"):
                backend.decode(params, src, attention=rule)
    assert compilations() == compiled
