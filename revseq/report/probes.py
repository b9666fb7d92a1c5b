"""What a report looks at besides the test split — sentences of lengths never trained on and
sentences of repeated words, drawn from a fixed seed — decoded by the model under report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from revseq.report.metrics import exact_match
from revseq.task.ablation import MODEL, RULES
from revseq.task.batching import pad_length
from revseq.task.config import DataConfig
from revseq.task.data import (
    Sentence,
    random_sentences,
    repeated_word_sentences,
    task_words,
    unseen_lengths,
)
from revseq.task.decoded import Decoded
from revseq.task.vocab import SPECIALS, Vocabulary

PER_LENGTH = 50  # sentences of each unseen length
REPEATS = 200  # repeated-word sentences


@dataclass(frozen=True)
class Evidence:
    """Decoded sentences a report is written from, and the task the model was trained on."""

    test: list[Decoded]
    unseen: list[Decoded]  # lengths outside data.min_len..data.max_len
    repeats: list[Decoded]  # one or two distinct words, repeated
    data: DataConfig
    # Test exact match (correct, total) under the model's own attention and each fixed rule
    # of revseq.task.ablation ("model", "uniform", "mirror"); empty when not measured.
    ablation: dict[str, tuple[int, int]] = field(default_factory=dict)
    attention: str = "bahdanau"  # the model's attention (ModelConfig.attention)


def decode_edges(data: DataConfig, edges: tuple[int, ...]) -> tuple[int, ...]:
    """The padded lengths a report decodes at: the task's buckets, then one that holds every
    longer probe, so that the probes take one compiled shape more (they decode alike at any
    padding)."""
    longest = max(unseen_lengths(data), default=0) + 1  # + <EOS>
    return edges if longest <= edges[-1] else (*edges, pad_length(longest, edges))


def probe_words(vocab: Vocabulary) -> tuple[str, ...]:
    """The words the probes are drawn from: the vocabulary's, specials left out. For the
    generated task these are its words (task_words) in their order, so its probes are the
    same as ever; for a corpus run (revseq.task.corpus), the corpus vocabulary's."""
    return tuple(vocab.itos[len(SPECIALS) :])


Ablate = Callable[[list[Sentence], str], list[Decoded]]


def ablate(greedy: Ablate, test: list[Decoded], test_is_greedy: bool = True):
    """{rule: test exact match} with greedy(sentences, attention) decoding under each rule;
    the model's own figure is `test`'s when that was decoded greedily (no decode again)."""
    sources = [d.source for d in test]
    rules = RULES if test_is_greedy else (MODEL, *RULES)
    out = {MODEL: exact_match(test)} if test_is_greedy else {}
    return out | {rule: exact_match(greedy(sources, rule)) for rule in rules}


def gather(
    decode: Callable[[list[Sentence]], list[Decoded]],
    test: list[Decoded],
    *,
    data: DataConfig,
    greedy: Ablate | None = None,
    test_is_greedy: bool = True,
    attention: str = "bahdanau",
    words: tuple[str, ...] = (),
) -> Evidence:
    """Draw the probe sentences (the same for every model of a task) and decode them; with
    `greedy` (sentences, attention rule -> decoded), measure the attention ablation too.
    `attention` names the model's attention kind for the report. The probes are made of
    `words`: pass the vocabulary's (probe_words); the default, the generated task's."""
    rng = np.random.default_rng(7)
    words = words or task_words(data.n_words)
    unseen = random_sentences(words, unseen_lengths(data), PER_LENGTH, rng=rng)
    repeats = repeated_word_sentences(data, REPEATS, rng, words=words)
    measured = ablate(greedy, test, test_is_greedy) if greedy else {}
    return Evidence(test, decode(unseen), decode(repeats), data, measured, attention)
