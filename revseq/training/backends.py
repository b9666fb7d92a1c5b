"""`--backend` as a dictionary lookup; a backend's framework is imported only when chosen."""

from __future__ import annotations

import importlib

from revseq.errors import RevseqError
from revseq.task.config import Config

BACKENDS = {"jax": "revseq_jax.backend", "torch": "revseq_torch.backend"}
EXTRAS = {"jax": "jax", "torch": "torch"}


def load(name: str, cfg: Config, steps_per_epoch: int = 1, devices: int | None = 1):
    """A backend for this config; steps_per_epoch sets the length of an lr schedule, devices
    how many local devices share each batch (JAX; None: all of them)."""
    if name not in BACKENDS:
        raise RevseqError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    try:
        module = importlib.import_module(BACKENDS[name])
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] == EXTRAS[name]:
            raise RevseqError(
                f"backend {name!r} needs {EXTRAS[name]}: pip install 'revseq[{EXTRAS[name]}]'"
            ) from None
        raise
    return module.Backend(cfg, steps_per_epoch, devices)


def use_compilation_cache(path: str) -> None:
    """JAX's persistent compilation cache in `path` for this process, when jax is installed
    (revseq_jax.backend.use_compilation_cache); torch compiles nothing ahead."""
    try:
        module = importlib.import_module(BACKENDS["jax"])
    except ModuleNotFoundError:
        return
    module.use_compilation_cache(path)
