"""The install check (`python scripts/doctor.py`): where the code runs, whether both backends
compute the same function there, how fast the JAX backend is, and whether a short run learns.

It is what a user runs after installing on a new GPU or TPU host. Parity is checked at pinned
precision (float32 matmuls exact: no TF32, no bfloat16 passes), on the device JAX picks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from revseq.report import evaluation
from revseq.task.config import Config, ModelConfig, preset
from revseq.task.init import init_params
from revseq.timing import median_seconds
from revseq.training import backends, record, run

PARITY_TOL = 1e-5  # float32, the parity suite's tolerance
PARITY_STEPS = 3  # training steps compared
LEARNS = 90.0  # % test exact match the tiny preset reaches on every machine seen (about 99 %)
# A small two-layer model (layers above the first have their own code path) without dropout.
PARITY_MODEL = ModelConfig(vocab_size=38, embed_dim=16, hidden_dim=32, num_layers=2, dropout=0.0)


def environment(jax_backend) -> list[str]:
    """Lines naming Python, the platform, the libraries and the devices JAX sees."""
    me = record.invocation()
    versions = ", ".join(f"{k} {v}" for k, v in me["versions"].items())
    return [
        f"python {me['python']} on {me['platform']}",
        f"libraries: {versions}",
        *jax_backend.describe(),
    ]


def _max_diff(a: dict, b: dict) -> tuple[str, float]:
    """The name and size of the largest absolute difference between two dicts of arrays."""
    diffs = {k: float(np.max(np.abs(np.asarray(a[k], float) - np.asarray(b[k], float)))) for k in a}
    name = max(diffs, key=lambda k: diffs[k])
    return name, diffs[name]


def parity() -> dict:
    """Both backends from the same float32 weights: the loss of PARITY_STEPS training steps,
    the weights after them, and greedy decoding of a validation batch (tokens equal,
    attention close). Returns {"what": max difference} and "tokens_equal"."""
    # A constant, small rate: Adam scales every update to about the rate, so rounding in a
    # gradient near zero moves a weight by up to the rate times its relative error.
    cfg = preset("tiny").replace(**vars(PARITY_MODEL), lr=1e-3, lr_schedule="constant")
    rng = np.random.default_rng(0)
    task = run.prepare(cfg, rng)
    steps = run.epoch_batches(cfg, data=task.train, edges=task.edges, rng=rng)[:PARITY_STEPS]
    weights = init_params(cfg.model, seed=0)
    out = {}
    for name in ("jax", "torch"):
        backend = backends.load(name, cfg, steps_per_epoch=len(steps))
        with backend.exact_matmuls():
            state, sums = backend.train_epoch(backend.start(weights), steps)
            params = backend.params(state)
            tokens, attention = backend.decode(params, task.val_batches[0].src)
        out[name] = (sums, backend.to_numpy(params), tokens, attention)
    (sj, pj, tj, aj), (st, pt, tt, at) = out["jax"], out["torch"]
    where, diff = _max_diff(pj, pt)
    return {
        "loss": abs(sj["loss_sum"] - st["loss_sum"]) / sj["count"],
        f"weights ({where})": diff,
        "attention": float(np.max(np.abs(aj - at))),
        "tokens_equal": bool((tj == tt).all()),
    }


def _warm_median(fn: Callable[[], object], repeats: int = 3) -> float:
    fn()  # warm-up: compiles
    return median_seconds(fn, repeats)


def speed(cfg: Config, steps: int = 50) -> dict:
    """The JAX backend at this config: training sentences/s over `steps` batches and the
    milliseconds to decode the test split greedily (medians of 3 after a warm-up)."""
    rng = np.random.default_rng(0)
    task = run.prepare(cfg, rng)
    batches = run.epoch_batches(cfg, data=task.train, edges=task.edges, rng=rng)[:steps]
    backend = backends.load("jax", cfg, steps_per_epoch=len(batches))
    state = [backend.start(init_params(cfg.model, 0))]

    def train():
        state[0], sums = backend.train_epoch(state[0], batches)
        return sums

    rows = sum(int((b.src != 0).any(axis=1).sum()) for b in batches)
    train_s = _warm_median(train)
    params = backend.params(state[0])
    test = task.splits.test
    decode_s = _warm_median(
        lambda: evaluation.decode(
            backend, params, vocab=task.vocab, sentences=test, edges=task.edges
        )
    )
    return {"train_sentences_per_s": rows / train_s, "decode_ms": 1e3 * decode_s, "n": len(test)}


def tiny_run() -> float:
    """Train the tiny preset (JAX) in a temporary folder: its test exact match in %."""
    with tempfile.TemporaryDirectory() as tmp:
        items = run.train(preset("tiny"), "jax", Path(tmp) / "run", log=lambda line: None)
    return 100.0 * sum(d.match for d in items) / len(items)
