"""What the benchmark needs to know of PyTorch: its matmul rate (it never compiles), and the
notebook's own epoch time."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader

from parity_tests import notebook  # the notebook's own code, the parity suite's oracle
from revseq.task.config import Config
from revseq.task.data import Sentence, reverse
from revseq.task.vocab import SOS, Vocabulary
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


def notebook_epoch_seconds(cfg: Config, sentences: Sequence[Sentence], vocab: Vocabulary) -> float:
    """Wall time of one training epoch of the notebook's own code (its model, DataLoader with
    collate_fn, hand-written Adam, clipping and train_epoch) on these sentences, with the
    config's model, batch size, rate and forcing."""
    torch.manual_seed(cfg.train.seed)
    random.seed(cfg.train.seed)
    m = cfg.model
    net = notebook.build(len(vocab), m.embed_dim, m.hidden_dim, m.num_layers, m.dropout)
    pairs = [(vocab.encode(s), [SOS, *vocab.encode(reverse(s))]) for s in sentences]
    loader = DataLoader(
        pairs, batch_size=cfg.train.batch_size, shuffle=True, collate_fn=notebook.collate
    )
    optimizer = notebook.AdamOptimizer(net.parameters(), lr=cfg.train.lr)
    start = time.perf_counter()
    notebook.train_epoch(net, loader, optimizer, cfg.train.teacher_forcing)
    return time.perf_counter() - start


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
    net.forward = torch.compile(net.forward, dynamic=False)
    start = time.perf_counter()
    step()
    compile_s = time.perf_counter() - start
    return {
        "compile_s": compile_s,
        "eager_ms": 1e3 * eager,
        "compiled_ms": 1e3 * median_seconds(step, repeats),
    }
