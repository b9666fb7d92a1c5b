"""`--backend` as a dictionary lookup: a backend's framework is imported only when chosen
(what every backend provides is revseq.task.backend.Backend)."""

from __future__ import annotations

import importlib

from revseq.errors import RevseqError
from revseq.task.backend import Backend
from revseq.task.config import Config

BACKENDS = {"jax": "revseq_jax.backend", "torch": "revseq_torch.backend"}
EXTRAS = {"jax": "jax", "torch": "torch"}


def load(name: str, cfg: Config, *, steps_per_epoch: int = 1, devices: int | None = 1) -> Backend:
    """A backend for this config; steps_per_epoch sets the length of an lr schedule, devices
    how many local devices share each batch (JAX; None: all of them)."""
    if name not in BACKENDS:
        raise RevseqError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return _module(name).Backend(cfg, steps_per_epoch, devices)


def _module(name: str):
    """The backend's module; RevseqError saying what to install when its framework is not."""
    try:
        return importlib.import_module(BACKENDS[name])
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] == EXTRAS[name]:
            raise RevseqError(missing(name)) from None
        raise


def missing(name: str, what: str = "") -> str:
    """The line that says what to install for backend `name` (or for `what` that needs it)."""
    extra = EXTRAS[name]
    what = what or f"backend {name!r}"
    return f"{what} needs {extra}, which is not installed: pip install -e '.[{extra}]'"


def installed(name: str) -> bool:
    """Whether backend `name`'s framework can be imported here."""
    try:
        _module(name)
    except RevseqError:
        return False
    return True


def use_compilation_cache(path: str) -> None:
    """JAX's persistent compilation cache in `path` for this process, when jax is installed
    (revseq_jax.backend.use_compilation_cache); torch compiles nothing ahead."""
    try:
        module = importlib.import_module(BACKENDS["jax"])
    except ModuleNotFoundError:
        return
    module.use_compilation_cache(path)
