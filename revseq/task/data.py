"""The reversal task: random sentences over the notebook's 34 words, in disjoint splits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from revseq.errors import RevseqError
from revseq.task.config import DataConfig
from revseq.task.conventions import MAX_WORDS

# The notebook's word list, in its order.
WORDS: tuple[str, ...] = (
    "the", "cat", "sat", "dog", "ran", "big", "small", "red", "blue",
    "on", "in", "mat", "hat", "house", "car", "tree", "bird", "fish",
    "quick", "lazy", "brown", "fox", "jumps", "over", "eats", "drinks",
    "happy", "sad", "fast", "slow", "old", "new", "hot", "cold",
)  # fmt: skip

Sentence = tuple[str, ...]


def task_words(n: int = len(WORDS)) -> tuple[str, ...]:
    """The task's n words: the notebook's first n, then made-up ones (w35, w36, ...)."""
    return (WORDS + tuple(f"w{i}" for i in range(len(WORDS) + 1, n + 1)))[:n]


@dataclass(frozen=True)
class Splits:
    """Train, validation and test sentences; no sentence is in two splits."""

    train: list[Sentence]
    val: list[Sentence]
    test: list[Sentence]
    # A corpus run's lines about where the splits came from (revseq.task.corpus); else none.
    about: tuple[str, ...] = ()


def reverse(sentence: Sentence) -> Sentence:
    """The target of the task."""
    return tuple(reversed(sentence))


def make_splits(cfg: DataConfig, rng: np.random.Generator) -> Splits:
    """Draw distinct sentences of min_len..max_len words, uniform over length, then split them."""
    words = task_words(cfg.n_words)
    total = cfg.n_train + cfg.n_val + cfg.n_test
    lengths = range(cfg.min_len, cfg.max_len + 1)
    capacity = sum(len(words) ** n for n in lengths)
    if total > capacity // 2:
        raise RevseqError(f"{total} distinct sentences asked of a task that has only {capacity}")
    seen: set[Sentence] = set()
    sentences: list[Sentence] = []
    while len(sentences) < total:
        n = int(rng.integers(cfg.min_len, cfg.max_len + 1))
        s = tuple(words[i] for i in rng.integers(0, len(words), size=n))
        if s not in seen:
            seen.add(s)
            sentences.append(s)
    a, b = cfg.n_train, cfg.n_train + cfg.n_val
    return Splits(train=sentences[:a], val=sentences[a:b], test=sentences[b:])


def split_words(line: str) -> Sentence:
    """A line of user text as a sentence: its whitespace-separated words as typed (the
    vocabulary looks them up case-folded, revseq.task.vocab.normal; the output copies them back
    as typed, revseq.task.as_typed)."""
    return tuple(line.split())


# The report's longest probe, in multiples of the longest trained sentence: 3-10 words trained
# are probed up to 30 (a model that learned the rule reverses three times the length).
UNSEEN_FACTOR = 3


def unseen_lengths(cfg: DataConfig) -> list[int]:
    """Sentence lengths a model of this task never trained on, for the report: 1 to min_len - 1
    words and max_len + 1 to UNSEEN_FACTOR * max_len, within the tools' MAX_WORDS."""
    longest = min(UNSEEN_FACTOR * cfg.max_len, MAX_WORDS)
    return [*range(1, cfg.min_len), *range(cfg.max_len + 1, longest + 1)]


def random_sentences(
    words: tuple[str, ...], lengths: list[int], per_length: int, *, rng: np.random.Generator
) -> list[Sentence]:
    """`per_length` random sentences of each length (repeats across sentences allowed)."""
    return [
        tuple(words[i] for i in rng.integers(0, len(words), size=n))
        for n in lengths
        for _ in range(per_length)
    ]


def repeated_word_sentences(
    cfg: DataConfig, count: int, rng: np.random.Generator, *, words: tuple[str, ...] = ()
) -> list[Sentence]:
    """Sentences of the trained lengths (at least 3 words) built from one or two distinct
    words (of `words`, default the task's), each used several times: "the the cat the"."""
    words = words or task_words(cfg.n_words)
    out = []
    for _ in range(count):
        n = int(rng.integers(max(cfg.min_len, 3), max(cfg.max_len, 3) + 1))
        few = rng.choice(len(words), size=min(int(rng.integers(1, 3)), len(words)), replace=False)
        out.append(tuple(words[i] for i in rng.choice(few, size=n)))
    return out
