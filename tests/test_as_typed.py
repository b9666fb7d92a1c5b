"""The as-typed rule (revseq.task.as_typed): every output word that copies a source word is written
as the user typed it; words are looked up case-folded, punctuation stripped (vocab.normal)."""

from __future__ import annotations

import numpy as np

from revseq.task.as_typed import restore
from revseq.task.data import WORDS, reverse, split_words
from revseq.task.decoded import Decoded
from revseq.task.vocab import UNK, Vocabulary, normal

VOCAB = Vocabulary(WORDS)


def decoded(source: str, prediction: str, attention=None) -> Decoded:
    src = split_words(source)
    n = len(src)
    att = np.eye(n + 1)[[*range(n - 1, -1, -1), n]] if attention is None else attention
    return Decoded(src, reverse(src), tuple(prediction.split()), np.asarray(att, float))


def test_normal_form_folds_case_and_strips_outer_punctuation_only():
    assert [normal(w) for w in ["The", "cat,", "(Dog)", "don't", "...", "ÉTÉ."]] == [
        "the", "cat", "dog", "don't", "...", "été",
    ]  # fmt: skip
    assert VOCAB.encode(["The", "CAT.", "zebra"], add_eos=False) == [4, 5, UNK]


def test_split_words_keeps_what_was_typed():
    assert split_words("  I love\tMachine learning, models. ") == (
        "I", "love", "Machine", "learning,", "models.",
    )  # fmt: skip


def test_a_copied_known_word_comes_back_with_its_case_and_punctuation():
    d = decoded("The Cat, sat.", "sat cat the")
    assert restore(d, VOCAB).prediction == ("sat.", "Cat,", "The")
    assert restore(d, VOCAB).match


def test_of_two_typings_of_one_word_the_one_attended_more_is_taken():
    att = [[0.1, 0.2, 0.7, 0], [0.2, 0.6, 0.2, 0], [0.6, 0.3, 0.1, 0], [0, 0, 0, 1]]
    d = decoded("the The cat", "cat the the", att)
    assert restore(d, VOCAB).prediction == ("cat", "The", "the")


def test_unknown_and_known_words_together_and_the_rule_is_idempotent():
    d = decoded("I love the Zebra,", "<UNK> the <UNK> <UNK>")
    once = restore(d, VOCAB)
    assert once.prediction == ("Zebra,", "the", "love", "I") and once.match
    assert restore(once, VOCAB) == once


def test_a_word_the_source_lacks_stays_as_the_vocabulary_has_it():
    d = decoded("The cat sat", "sat dog The")  # "dog" nowhere in the source: a model error
    assert restore(d, VOCAB).prediction == ("sat", "dog", "The")
    assert not restore(d, VOCAB).match
