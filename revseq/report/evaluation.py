"""Decode sentences with any backend in fixed-shape batches and keep what the report needs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from revseq.task.backend import Backend
from revseq.task.batching import encode, make_batch, plan
from revseq.task.conventions import EVAL_BATCH
from revseq.task.data import Sentence, reverse
from revseq.task.decoded import Decoded
from revseq.task.vocab import Vocabulary


def decode(
    backend: Backend,
    params,
    *,
    vocab: Vocabulary,
    sentences: Sequence[Sentence],
    edges: Sequence[int],
    beam: int = 1,
    length_penalty: float = 0.0,
    attention: str = "model",
) -> list[Decoded]:
    """Predictions with their attention [steps run, n + 1], in the input order: greedy for
    beam 1, else the best hypothesis of a beam search of that width (length_penalty: see
    revseq_jax.beam); attention "uniform" or "mirror": greedy with every step's weights fixed
    by that rule (revseq.task.ablation)."""
    if not sentences:
        return []
    data = encode(sentences, vocab)
    out: dict[int, Decoded] = {}
    for rows, length in plan(data.lengths, EVAL_BATCH, edges):
        batch = make_batch(data, rows, EVAL_BATCH, length=length)
        tokens, weights = backend.decode(
            params, batch.src, beam=beam, length_penalty=length_penalty, attention=attention
        )
        for j, r in enumerate(rows):
            source = tuple(sentences[r])
            steps = int((weights[j].sum(axis=-1) > 0).sum())  # steps before stopping
            out[r] = Decoded(
                source=source,
                reference=reverse(source),
                prediction=tuple(vocab.decode(tokens[j])),
                attention=np.asarray(weights[j, :steps, : len(source) + 1]),
            )
    return [out[i] for i in range(len(sentences))]
