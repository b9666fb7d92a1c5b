"""The reversal task: random sentences over the notebook's 34 words, in disjoint splits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from revseq.config import DataConfig
from revseq.errors import RevseqError

# The notebook's word list, in its order.
WORDS: tuple[str, ...] = (
    "the", "cat", "sat", "dog", "ran", "big", "small", "red", "blue",
    "on", "in", "mat", "hat", "house", "car", "tree", "bird", "fish",
    "quick", "lazy", "brown", "fox", "jumps", "over", "eats", "drinks",
    "happy", "sad", "fast", "slow", "old", "new", "hot", "cold",
)  # fmt: skip

Sentence = tuple[str, ...]


@dataclass(frozen=True)
class Splits:
    """Train, validation and test sentences; no sentence is in two splits."""

    train: list[Sentence]
    val: list[Sentence]
    test: list[Sentence]


def reverse(sentence: Sentence) -> Sentence:
    """The target of the task."""
    return tuple(reversed(sentence))


def make_splits(cfg: DataConfig, rng: np.random.Generator) -> Splits:
    """Draw distinct sentences of min_len..max_len words, uniform over length, then split them."""
    total = cfg.n_train + cfg.n_val + cfg.n_test
    lengths = range(cfg.min_len, cfg.max_len + 1)
    capacity = sum(len(WORDS) ** n for n in lengths)
    if total > capacity // 2:
        raise RevseqError(f"{total} distinct sentences asked of a task that has only {capacity}")
    seen: set[Sentence] = set()
    sentences: list[Sentence] = []
    while len(sentences) < total:
        n = int(rng.integers(cfg.min_len, cfg.max_len + 1))
        s = tuple(WORDS[i] for i in rng.integers(0, len(WORDS), size=n))
        if s not in seen:
            seen.add(s)
            sentences.append(s)
    a, b = cfg.n_train, cfg.n_train + cfg.n_val
    return Splits(train=sentences[:a], val=sentences[a:b], test=sentences[b:])


def split_words(line: str) -> Sentence:
    """A line of user text as a sentence: whitespace-separated words, lower-cased."""
    return tuple(line.lower().split())
