"""What a report looks at besides the test split — sentences of lengths never trained on and
sentences of repeated words, drawn from a fixed seed — decoded by the model under report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from revseq.config import DataConfig
from revseq.data import (
    Sentence,
    random_sentences,
    repeated_word_sentences,
    task_words,
    unseen_lengths,
)
from revseq.metrics import Decoded

PER_LENGTH = 50  # sentences of each unseen length
REPEATS = 200  # repeated-word sentences


@dataclass(frozen=True)
class Evidence:
    """Decoded sentences a report is written from, and the task the model was trained on."""

    test: list[Decoded]
    unseen: list[Decoded]  # lengths outside data.min_len..data.max_len
    repeats: list[Decoded]  # one or two distinct words, repeated
    data: DataConfig


def gather(
    decode: Callable[[list[Sentence]], list[Decoded]], test: list[Decoded], data: DataConfig
) -> Evidence:
    """Draw the probe sentences (the same for every model of a task) and decode them."""
    rng = np.random.default_rng(7)
    words = task_words(data.n_words)
    unseen = random_sentences(words, unseen_lengths(data), PER_LENGTH, rng)
    repeats = repeated_word_sentences(data, REPEATS, rng)
    return Evidence(test, decode(unseen), decode(repeats), data)
