"""What the benchmark needs to know of JAX: its matmul rate and how often it compiles."""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp

from revseq.task.config import Config
from revseq.timing import median_seconds
from revseq_jax import model, train
from revseq_jax.backend import Backend

_COMPILES = [0]
_LISTENING = [False]


def _count(event: str, duration_secs: float, **kwargs) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _COMPILES[0] += 1


def compilations() -> int:
    """XLA compilations in this process since the first call (which starts the count: a
    jax.monitoring listener, registered once, only in a benchmark's process)."""
    if not _LISTENING[0]:
        jax.monitoring.register_event_duration_secs_listener(_count)
        _LISTENING[0] = True
    return _COMPILES[0]


def matmul_seconds(m: int, k: int, n: int, repeats: int = 50) -> float:
    """Median time of one float32 [m, k] @ [k, n] on the default device, chained 16 times in
    one jitted call so dispatch overhead is spread thin."""
    a = jnp.ones((m, k), jnp.float32) * 0.01
    w = jnp.ones((k, n), jnp.float32) * 0.01

    @jax.jit
    def chain(a, w):
        x = a
        for _ in range(16):
            x = (x @ w)[:, :k] if n >= k else x @ w
        return x

    jax.block_until_ready(chain(a, w))
    return median_seconds(lambda: jax.block_until_ready(chain(a, w)), repeats) / 16


def compile_train_step(backend, state, batch) -> float:
    """Seconds to compile the train step for this batch's shape, ahead of time (the jitted
    step then runs the executable without compiling again)."""
    start = time.perf_counter()
    backend.compile_train(state, batch)
    return time.perf_counter() - start


def seconds_by_devices(cfg: Config, batches, repeats: int = 5) -> dict[int, float]:
    """Median seconds of training on the batches on a mesh of 1 device and of every local
    device (when there are more; {} when there is one), from the same weights."""
    if jax.local_device_count() == 1:
        return {}
    out = {}
    for n in sorted({1, jax.local_device_count()}):
        backend = Backend(cfg, len(batches), devices=n)
        state = [backend.init()]

        def run(backend=backend, state=state):
            state[0], _ = backend.train_epoch(state[0], batches)

        run()
        out[n] = median_seconds(run, repeats)
    return out


def step_ms_by_unroll(cfg: Config, batch, repeats: int = 5) -> dict[int, float]:
    """Median train-step time (ms) on this device with each scan unroll setting."""
    out = {}
    tx = train.make_optimizer(cfg.train, 1)
    params = model.init_params(cfg.model, 0)
    for n in (1, 2, 4):
        step = train.make_train_step(dataclasses.replace(cfg.model, scan_unroll=n), tx)
        state = [train.init_state(params, tx)]

        def run(step=step, state=state):
            state[0], m = step(state[0], batch, jax.random.key(1))
            jax.block_until_ready(m)

        run()
        out[n] = 1e3 * median_seconds(run, repeats)
    return out
