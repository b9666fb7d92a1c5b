"""Vocabulary: PAD=0, SOS=1, EOS=2, UNK=3, then the task's words; encode, decode, JSON."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from revseq.errors import RevseqError

PAD, SOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<PAD>", "<SOS>", "<EOS>", "<UNK>")


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
        """Indices of the words (unknown ones become UNK), then EOS."""
        ids = [self.stoi.get(w, UNK) for w in words]
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
