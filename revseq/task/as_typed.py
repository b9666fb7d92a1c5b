"""Words back as the user typed them: the one rule that turns a prediction into output text.

A sentence is its whitespace-separated words exactly as typed ("Alice", "bank,"). The model
reads and writes vocabulary ids, looked up by each word's normal form (revseq.task.vocab.normal:
case-folded, leading and trailing punctuation stripped), or <UNK> for a word the vocabulary
lacks. At output step t the model predicts an id; the word written is

* a source word whose id is that id, as typed: of the source positions holding it, the one
  step t attends to most. For a predicted <UNK> these are the positions of the words the
  vocabulary lacks: the rare-word copy of Luong et al. (2015). For a known word they are the
  positions of the words with its normal form, so "The" comes back "The", "bank," "bank,";
* else (no source word has that id) the vocabulary's word, or <UNK>: nothing to copy.

Restricting the choice to the positions holding the predicted id matters: a step's attention
peak need not sit on the word it copies. The rule is the same for both backends, for greedy
and beam search, and for every tool (reverse.py, evaluate.py, the test split of train.py and
its report), so that every figure counts the sentences a user gets.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from revseq.task.decoded import Decoded
from revseq.task.vocab import SPECIALS, UNK, Vocabulary


def restore(d: Decoded, vocab: Vocabulary) -> Decoded:
    """`d` with each predicted word replaced by the source word it copies, as typed (the
    module's rule). The source and reference are kept as they are (as typed)."""
    ids = vocab.encode(d.source, add_eos=False)
    words = []
    for t, w in enumerate(d.prediction):
        # the id it predicted (applied again to its own output, the rule changes nothing)
        wanted = UNK if w == SPECIALS[UNK] else vocab.encode([w], add_eos=False)[0]
        where = [i for i, k in enumerate(ids) if k == wanted]
        if where and t < len(d.attention):
            w = d.source[where[int(np.argmax(d.attention[t, where]))]]
        words.append(w)
    return dataclasses.replace(d, prediction=tuple(words))
