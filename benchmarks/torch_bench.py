"""What the benchmark needs to know of PyTorch: its matmul rate (it never compiles), and the
notebook's own epoch time."""

from __future__ import annotations

import time

import torch

from benchmarks.notebook_loop import notebook_loop
from revseq.task.config import Config
from revseq.timing import median_seconds
from revseq_torch import train
from revseq_torch.backend import Backend


def compilations() -> int:
    """Eager PyTorch compiles nothing."""
    return 0


def matmul_seconds(m: int, k: int, n: int, repeats: int = 50) -> float:
    """Median time of one float32 [m, k] @ [k, n], over 16 chained products per call."""
    a = torch.full((m, k), 0.01)
    w = torch.full((k, n), 0.01)

    def chain():
        with torch.no_grad():
            x = a
            for _ in range(16):
                x = (x @ w)[:, :k] if n >= k else x @ w
        return x

    chain()
    return median_seconds(chain, repeats) / 16


def compile_train_step(backend, state, batch) -> float:
    """Eager PyTorch compiles nothing ahead."""
    return 0.0


def notebook_epoch_seconds(cfg: Config) -> float:
    """Training seconds of the first epoch of the notebook's own loop (its model, DataLoader
    with collate_fn, hand-written Adam, clipping and train_epoch) on the config's task."""
    return next(notebook_loop(cfg, 1))[3]


def compiled_step(cfg: Config, batch, repeats: int = 5) -> dict[str, float]:
    """The torch train step at this batch's shape, eager and with the model's forward under
    torch.compile: {"compile_s", "eager_ms", "compiled_ms"} (medians after a warm-up)."""
    backend = Backend(cfg)
    training = backend.init()
    net = training.model
    step = lambda: train.train_step(training, batch, cfg=cfg.train, schedule=backend.schedule)  # noqa: E731
    step()
    eager = median_seconds(step, repeats)
    import torch._inductor.config

    torch._inductor.config.force_disable_caches = True  # a cold compile, as on a first run
    net.forward = torch.compile(net.forward, dynamic=False)  # type: ignore[method-assign]
    start = time.perf_counter()
    step()
    compile_s = time.perf_counter() - start
    return {
        "compile_s": compile_s,
        "eager_ms": 1e3 * eager,
        "compiled_ms": 1e3 * median_seconds(step, repeats),
    }
