"""revseq: a GRU encoder-decoder with attention that reverses the word order of sentences.

    import revseq
    model = revseq.load("runs/latest")           # a run folder
    model.reverse(["the cat sat"])               # ['sat cat the']
    model = revseq.train("tiny", out="runs/mine")  # a preset's name or a revseq.Config

The names below are imported on first use, so `import revseq` loads no framework; the core
(data, vocabulary, batching, checkpoints, metrics, the report) lives in the sub-packages.
"""

from __future__ import annotations

import importlib

_API = {
    "load": "revseq.api",
    "train": "revseq.api",
    "Model": "revseq.inference",
    "Config": "revseq.task.config",
    "preset": "revseq.task.config",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'revseq' has no attribute {name!r}")
