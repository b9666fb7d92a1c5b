"""Helpers shared by the unit tests."""

import numpy as np

from revseq.vocab import EOS, PAD


def ragged_src(lengths, vocab_size=12, width=None, seed=0) -> np.ndarray:
    """Rows of random word ids (4..V-1) then EOS, PAD-padded to width."""
    rng = np.random.default_rng(seed)
    width = width or max(lengths) + 1
    src = np.full((len(lengths), width), PAD, np.int32)
    for i, n in enumerate(lengths):
        src[i, :n] = rng.integers(4, vocab_size, n)
        src[i, n] = EOS
    return src
