"""The `last` checkpoint: everything a run needs to go on, bit for bit, after it stopped.

`last.safetensors` holds the backend's training state as named arrays — the params under
their state_dict names, `adam.mu.<name>`, `adam.nu.<name>`, `adam.count`, `step` (updates
made), `nonfinite` (steps with a NaN or Inf loss or gradient) and the dropout generator's
state (JAX: `rng.key`, the key's data; torch: `rng.state`, torch.Generator.get_state()) —
and in its header the epoch in progress, how many of its batches are done, the data-order
generator's state at that epoch's start (so its batches and forcing masks are drawn again
identically), the epoch rows so far and the partial sums of the epoch in progress. It is
written like every checkpoint file (revseq.training.checkpoint.write).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from revseq.errors import RevseqError
from revseq.task.config import Config
from revseq.task.layout import check_shapes, param_shapes
from revseq.task.vocab import Vocabulary
from revseq.training import checkpoint

LAST = "last"
SCALARS = ("adam.count", "step", "nonfinite")


@dataclass
class Progress:
    """Where a run stands: the epoch in progress, its batches done, and what came before."""

    epoch: int = 1  # the epoch in progress, 1-based (epochs + 1 once training is over)
    position: int = 0  # batches of that epoch already trained
    data_rng: dict = field(default_factory=dict)  # data-order generator before its batches
    history: list[dict] = field(default_factory=list)  # metrics.jsonl rows of finished epochs
    partial: dict[str, float] = field(default_factory=dict)  # train sums of the batches done

    def best_val_loss(self) -> float:
        """The lowest validation loss of the finished epochs (inf before the first)."""
        return min((row["val_loss"] for row in self.history), default=float("inf"))


def save(
    folder: Path,
    state: dict[str, np.ndarray],
    progress: Progress,
    *,
    config: Config,
    vocab: Vocabulary,
    backend: str,
) -> None:
    """Write last.safetensors (+ last.json) atomically: the state's arrays, the progress and
    the run's config, vocabulary and backend (whose state the arrays are) in its header."""
    meta = {**asdict(progress), "config": config.to_dict(), "vocab": vocab.to_json()}
    meta["backend"] = backend
    checkpoint.write(folder, LAST, tensors=state, meta=meta)


def load(
    folder: Path, *, config: Config, vocab: Vocabulary, backend: str
) -> tuple[dict[str, np.ndarray], Progress]:
    """Read last.safetensors and check it belongs to this run: the backend that wrote it (a
    `last` older than that record: run.json's), config and vocabulary equal the run's, every
    parameter and optimizer array has its shape. Else RevseqError."""
    where = str(Path(folder) / f"{LAST}.safetensors")
    tensors, meta = checkpoint.read(folder, LAST)
    if meta.get("backend", backend) != backend:
        raise RevseqError(
            f"{where} holds the {meta['backend']} backend's training state; run.json says "
            f"{backend}: a run goes on in the backend that wrote it"
        )
    saved, saved_vocab = checkpoint.read_config(meta, where)
    if saved != config:
        diff = differences(saved.to_dict(), config.to_dict())
        raise RevseqError(f"{where} was written with other settings than run.json: {diff}")
    if saved_vocab != vocab:
        raise RevseqError(f"{where} has another vocabulary than this task's")
    shapes = param_shapes(config.model)
    check_shapes({k: v for k, v in tensors.items() if k in shapes}, config.model)
    expected = {f"adam.{m}.{k}": s for m in ("mu", "nu") for k, s in shapes.items()}
    expected |= dict.fromkeys(SCALARS, ())
    for name, shape in expected.items():
        if name not in tensors:
            raise RevseqError(f"{where} lacks {name}")
        if tensors[name].shape != shape:
            raise RevseqError(f"{where}: {name} has shape {tensors[name].shape}, needs {shape}")
    try:
        progress = Progress(
            int(meta["epoch"]),
            int(meta["position"]),
            dict(meta["data_rng"]),
            list(meta["history"]),
            dict(meta["partial"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise RevseqError(f"{where}: its header lacks or garbles {e}") from None
    return tensors, progress


def differences(a: dict, b: dict, prefix: str = "") -> str:
    """The leaves where two nested dicts differ, as `key: a vs b`, comma-separated."""
    out = []
    for k in sorted(set(a) | set(b)):
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            if d := differences(x, y, f"{prefix}{k}."):
                out.append(d)
        elif x != y:
            out.append(f"{prefix}{k}: {x!r} vs {y!r}")
    return ", ".join(out)
