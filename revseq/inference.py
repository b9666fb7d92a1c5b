"""Load a run folder's best model into a backend, ready to decode sentences."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from revseq.errors import RevseqError
from revseq.report import evaluation
from revseq.report.metrics import Decoded
from revseq.task.as_typed import restore
from revseq.task.batching import edges_for
from revseq.task.data import Sentence
from revseq.training import backends, checkpoint

# The longest sentence the tools take. The GRUs have no length limit, but every new padded
# length compiles anew (JAX) and a model trained on 3-10 words is lost long before this.
MAX_WORDS = 100


# The rare-word copy of <UNK>s is one case of the as-typed rule (revseq.task.as_typed).
restore_unknown = restore


@dataclass
class Model:
    """A checkpoint loaded into a backend."""

    ckpt: checkpoint.Checkpoint
    backend: backends.Backend
    params: object

    @classmethod
    def load(cls, folder: Path, backend_name: str = "jax") -> Model:
        """Validate the checkpoint folder, then build the backend and its params."""
        ckpt = checkpoint.load(folder)
        backend = backends.load(backend_name, ckpt.config)
        return cls(ckpt, backend, backend.from_numpy(ckpt.params))

    def decode(
        self,
        sentences: list[Sentence],
        restore_unk: bool = True,
        *,
        beam: int = 1,
        length_penalty: float = 0.0,
        attention: str = "model",
    ) -> list[Decoded]:
        """Predictions and attention for each sentence, independent of the others: greedy
        for beam 1, else a beam search of that width; with restore_unk (the default), each
        predicted word is written as the source word it copies, as typed, and each <UNK> as
        the unknown source word it attends to (revseq.task.as_typed); without, the vocabulary's
        words and <UNK>s the model emitted. attention "uniform" or "mirror": greedy with
        every step's weights fixed by that rule (revseq.report.ablation)."""
        for i, s in enumerate(sentences):
            if len(s) > MAX_WORDS:
                raise RevseqError(
                    f"sentence {i + 1} has {len(s)} words; the limit is {MAX_WORDS} "
                    f"(this model was trained on {self.ckpt.config.data.min_len}-"
                    f"{self.ckpt.config.data.max_len})"
                )
        data = self.ckpt.config.data
        items = evaluation.decode(
            self.backend,
            self.params,
            self.ckpt.vocab,
            sentences,
            edges_for(data.max_len, data.min_len, self.ckpt.config.train.length_buckets),
            beam=beam,
            length_penalty=length_penalty,
            attention=attention,
        )
        return [restore(d, self.ckpt.vocab) for d in items] if restore_unk else items
