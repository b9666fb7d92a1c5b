"""Load a run folder's best model into a backend, ready to decode sentences."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from revseq import backends, checkpoint, evaluation
from revseq.batching import edges_for
from revseq.data import Sentence
from revseq.metrics import Decoded


@dataclass
class Model:
    """A checkpoint loaded into a backend."""

    ckpt: checkpoint.Checkpoint
    backend: object
    params: object

    @classmethod
    def load(cls, folder: Path, backend_name: str = "jax") -> Model:
        """Validate the checkpoint folder, then build the backend and its params."""
        ckpt = checkpoint.load(folder)
        backend = backends.load(backend_name, ckpt.config)
        return cls(ckpt, backend, backend.from_numpy(ckpt.params))

    def decode(self, sentences: list[Sentence]) -> list[Decoded]:
        """Greedy predictions and attention for each sentence, independent of the others."""
        data = self.ckpt.config.data
        return evaluation.decode(
            self.backend,
            self.params,
            self.ckpt.vocab,
            sentences,
            edges_for(data.max_len, data.min_len, self.ckpt.config.train.length_buckets),
        )
