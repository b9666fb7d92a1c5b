"""Load a run folder's best model into a backend, ready to decode sentences."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from revseq.errors import RevseqError
from revseq.report import evaluation
from revseq.report.metrics import Decoded
from revseq.task.batching import edges_for
from revseq.task.data import Sentence
from revseq.task.vocab import SPECIALS, UNK, Vocabulary
from revseq.training import backends, checkpoint

# The longest sentence the tools take. The GRUs have no length limit, but every new padded
# length compiles anew (JAX) and a model trained on 3-10 words is lost long before this.
MAX_WORDS = 100


def restore_unknown(d: Decoded, vocab: Vocabulary) -> Decoded:
    """Each <UNK> in the prediction replaced by a source word the vocabulary lacks: of the
    source positions that read <UNK>, the one its step attends to most (the rare-word copy of
    Luong et al., 2015). Restricting the choice to those positions matters: a step's attention
    peak need not sit on the word it copies. With no unknown word in the source, <UNK> stays."""
    unk = SPECIALS[UNK]
    unknown = [i for i, w in enumerate(d.source) if vocab.stoi.get(w, UNK) == UNK]
    if unk not in d.prediction or not unknown:
        return d
    words = [
        d.source[unknown[int(np.argmax(d.attention[t, unknown]))]]
        if w == unk and t < len(d.attention)
        else w
        for t, w in enumerate(d.prediction)
    ]
    return dataclasses.replace(d, prediction=tuple(words))


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
        for beam 1, else a beam search of that width; with restore_unk, each predicted <UNK>
        becomes the source word it attends to. attention "uniform" or "mirror": greedy with
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
        return [restore_unknown(d, self.ckpt.vocab) for d in items] if restore_unk else items
