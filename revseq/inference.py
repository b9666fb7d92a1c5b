"""A trained model, loaded from its run folder into a backend, ready to reverse sentences.

import revseq
model = revseq.load("runs/latest")
model.reverse(["the cat sat", "I love machine learning models"])
# ['sat cat the', 'models learning machine love I']
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from revseq.errors import RevseqError, RevseqWarning
from revseq.report import evaluation, trained_range
from revseq.task.as_typed import restore
from revseq.task.batching import edges_for
from revseq.task.conventions import MAX_BEAM, MAX_WORDS
from revseq.task.data import Sentence, split_words
from revseq.task.decoded import Decoded
from revseq.training import backends, checkpoint


@dataclass
class Model:
    """A checkpoint loaded into a backend, from its run folder."""

    ckpt: checkpoint.Checkpoint
    backend: backends.Backend
    params: object
    folder: Path
    # {words: (correct, total)}: the run's exact match by length (revseq.report.trained_range)
    measured: dict[int, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: str | Path, backend: str = "jax") -> Model:
        """The best weights of the run folder `folder` (a link such as runs/latest too), checked,
        in `backend` ("jax" or "torch")."""
        ckpt = checkpoint.load(Path(folder))
        loaded = backends.load(backend, ckpt.config)
        params = loaded.from_numpy(ckpt.params)
        return cls(ckpt, loaded, params, Path(folder), trained_range.read(Path(folder)))

    def reverse(
        self,
        sentences: str | Sequence[str],
        *,
        beam: int = 1,
        length_penalty: float = 0.0,
        keep_unk: bool = False,
    ) -> list[str] | str:
        """Each sentence (a line of text) reversed by the model, as text: a list for a list, a
        string for a string. Words come back as typed (revseq.task.as_typed); keep_unk prints
        the model's own words instead (<UNK> where it emits it). beam > 1: beam search of that
        width, finished hypotheses ranked by log-probability / length**length_penalty."""
        if isinstance(sentences, str):
            return self.reverse([sentences], beam=beam, length_penalty=length_penalty,
                                keep_unk=keep_unk)[0]  # fmt: skip
        if not all(isinstance(s, str) for s in sentences):
            raise TypeError("reverse takes a string or a list of strings, one sentence each")
        words = [split_words(s) for s in sentences]
        self._refuse_beyond_limits(words, beam)
        self.warn([w for w in words if w])
        decoded = iter(self.decode([w for w in words if w], not keep_unk, beam=beam,
                                   length_penalty=length_penalty))  # fmt: skip
        return [" ".join(next(decoded).prediction) if w else "" for w in words]

    def _refuse_beyond_limits(self, sentences: Sequence[Sentence], beam: int) -> None:
        """RevseqError for a beam or a sentence beyond the tools' limits, TypeError for text
        where words are expected."""
        if not 1 <= beam <= MAX_BEAM:
            raise RevseqError(f"beam must be 1 to {MAX_BEAM}, not {beam}")
        for i, s in enumerate(sentences):
            if isinstance(s, str):
                raise TypeError(
                    f"sentence {i + 1} is a string: decode takes sequences of words; "
                    "Model.reverse takes text"
                )
            if len(s) > MAX_WORDS:
                raise RevseqError(
                    f"sentence {i + 1} has {len(s)} words; the limit is {MAX_WORDS} "
                    f"(this model was trained on {self.ckpt.config.data.min_len}-"
                    f"{self.ckpt.config.data.max_len})"
                )

    def warn(self, sentences: Sequence[Sentence]) -> None:
        """A RevseqWarning for each caveat on these sentences: lengths outside those the model
        was trained on, words it mostly does not know (revseq.report.trained_range)."""
        cfg, vocab = self.ckpt.config, self.ckpt.vocab
        for line in trained_range.warnings(sentences, cfg=cfg, vocab=vocab, measured=self.measured):
            warnings.warn(line, RevseqWarning, stacklevel=3)

    def decode(
        self,
        sentences: Sequence[Sentence],
        restore_unk: bool = True,
        *,
        beam: int = 1,
        length_penalty: float = 0.0,
        attention: str = "model",
    ) -> list[Decoded]:
        """Predictions and attention for each sentence (a sequence of words), independent of the
        others: greedy for beam 1, else a beam search of that width; with restore_unk (the
        default), each predicted word is written as the source word it copies, as typed, and
        each <UNK> as the unknown source word it attends to (revseq.task.as_typed); without,
        the vocabulary's words and <UNK>s the model emitted. attention "uniform" or "mirror":
        greedy with every step's weights fixed by that rule (revseq.task.ablation)."""
        self._refuse_beyond_limits(sentences, beam)
        data = self.ckpt.config.data
        items = evaluation.decode(
            self.backend,
            self.params,
            vocab=self.ckpt.vocab,
            sentences=sentences,
            edges=edges_for(data.max_len, data.min_len, self.ckpt.config.train.length_buckets),
            beam=beam,
            length_penalty=length_penalty,
            attention=attention,
        )
        return [restore(d, self.ckpt.vocab) for d in items] if restore_unk else items
