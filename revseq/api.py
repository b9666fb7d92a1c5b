"""The Python API: load a trained model, or train one (revseq.load, revseq.train)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from revseq.inference import Model
from revseq.task import corpus as corpus_
from revseq.task.config import Config, preset
from revseq.training import run, run_folder


def load(folder: str | Path, backend: str = "jax") -> Model:
    """The trained model of a run folder ("runs/latest", "runs/<time>"), ready to reverse."""
    return Model.load(folder, backend)


def train(
    config: Config | str = "default",
    *,
    out: str | Path | None = None,
    backend: str = "jax",
    corpus: str | Path | None = None,
    log: Callable[[str], None] = print,
    **settings,
) -> Model:
    """Train as `revseq train` does and return the best model: `config` is a Config or a
    preset's name, `settings` override its fields by name (epochs=2, lr=1e-3, ...), `corpus` a
    file of your own sentences, one a line. The run folder is `out` (default: a new one under
    runs/), its log goes to `log`."""
    name = config if isinstance(config, str) else ""
    cfg = preset(config) if isinstance(config, str) else config
    text = None
    if corpus is None:
        cfg = cfg.replace(**settings)
    else:
        cfg, text = corpus_.configure(cfg, Path(corpus), settings)
    folder = Path(out) if out is not None else run_folder.new_run_dir()
    run.train(cfg, backend, folder, preset=name, text=text, log=log)
    return Model.load(folder, backend)
