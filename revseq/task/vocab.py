"""Vocabulary: PAD=0, SOS=1, EOS=2, UNK=3, then the task's words; encode, decode, JSON.

Words are looked up by their normal form (`normal`): case-folded, with the punctuation that
leads or trails them stripped ("The", "the," and "(the" are one word, "the"). What a user
typed is never lost by it: every output word that copies a source word is written back as
typed (revseq.task.as_typed).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from revseq.errors import RevseqError

PAD, SOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<PAD>", "<SOS>", "<EOS>", "<UNK>")


def _punctuation(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def normal(word: str) -> str:
    """The form a word is looked up by: case-folded, leading and trailing punctuation
    (Unicode category P*) stripped; a word of punctuation only ("...", "--") is kept whole.
    normal(normal(w)) == normal(w)."""
    start, end = 0, len(word)
    while start < end and _punctuation(word[start]):
        start += 1
    while end > start and _punctuation(word[end - 1]):
        end -= 1
    return (word[start:end] or word).casefold()


class Vocabulary:
    """A fixed word <-> index map whose first four entries are the special tokens."""

    def __init__(self, words: Iterable[str]):
        words = [w for w in words if w not in SPECIALS]
        self.itos: list[str] = [*SPECIALS, *dict.fromkeys(words)]
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos

    def encode(self, words: Sequence[str], add_eos: bool = True) -> list[int]:
        """Indices of the words' normal forms (unknown ones become UNK), then EOS."""
        ids = [self.stoi.get(normal(w), UNK) for w in words]
        return [*ids, EOS] if add_eos else ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words up to the first EOS; PAD and SOS are dropped, UNK is kept as <UNK>."""
        words = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i not in (PAD, SOS):
                words.append(self.itos[i])
        return words

    def to_json(self) -> list[str]:
        """The index-ordered word list."""
        return list(self.itos)

    @classmethod
    def from_json(cls, itos: list[str]) -> Vocabulary:
        """Inverse of to_json; checks the special tokens sit at their fixed indices."""
        if not isinstance(itos, list) or tuple(itos[:4]) != SPECIALS:
            raise RevseqError("vocabulary must start with <PAD>, <SOS>, <EOS>, <UNK>")
        return cls(itos)
