"""Unknown words: the model emits <UNK> where it reads one, and the tools put the source word
back by the rare-word copy rule (revseq.task.as_typed.restore)."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest

from revseq.inference import Model
from revseq.task.as_typed import restore as restore_unknown
from revseq.task.data import WORDS, reverse
from revseq.task.decoded import Decoded
from revseq.task.vocab import Vocabulary

VOCAB = Vocabulary(WORDS)


def decoded(source: str, prediction: str, attention) -> Decoded:
    src = tuple(source.split())
    return Decoded(src, reverse(src), tuple(prediction.split()), np.asarray(attention, float))


def test_an_unk_takes_the_unknown_word_even_where_the_peak_is_on_a_known_one():
    # step 1 attends mostly to "sat" (position 2), a little to "zebra" (position 1)
    d = decoded(
        "the zebra sat",
        "sat <UNK> the",
        [[0, 0, 1, 0], [0.1, 0.3, 0.6, 0], [1, 0, 0, 0], [0, 0, 0, 1]],
    )
    assert restore_unknown(d, VOCAB).prediction == ("sat", "zebra", "the")


def test_of_two_unknown_words_the_one_attended_more_is_taken():
    att = [[0, 0.2, 0, 0.7, 0.1], [0, 0.6, 0.3, 0.1, 0], [0, 0, 0.9, 0.1, 0], [1, 0, 0, 0, 0]]
    d = decoded("the gnu sat yak", "<UNK> <UNK> sat the", att)
    assert restore_unknown(d, VOCAB).prediction == ("yak", "gnu", "sat", "the")


def test_with_no_unknown_word_in_the_source_unk_stays():
    d = decoded("the cat sat", "sat <UNK> the", np.eye(4)[[2, 1, 0, 3]])
    assert restore_unknown(d, VOCAB).prediction == ("sat", "<UNK>", "the")


def made_up_sentences(count: int, seed: int = 0) -> list[tuple[str, ...]]:
    """Sentences of 3-10 task words with one or two of them (at random places) replaced by
    made-up words that no vocabulary here holds."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        words = list(rng.choice(WORDS, size=int(rng.integers(3, 11))))
        for i in rng.choice(len(words), size=int(rng.integers(1, 3)), replace=False):
            words[i] = "".join(rng.choice(list(string.ascii_lowercase), size=6))
        out.append(tuple(words))
    return out


@pytest.fixture
def default_run(trained_run) -> Path:
    """The default preset trained as a user trains it, once per session (about 10 s here)."""
    return trained_run("jax", "default")


@pytest.mark.slow  # the default model: a run of the long tier
def test_a_default_model_puts_back_made_up_words_in_at_least_99_percent(default_run):
    sentences = made_up_sentences(300)
    model = Model.load(default_run, "jax")
    kept = model.decode(sentences, restore_unk=False)
    restored = model.decode(sentences)
    # the model's own part: <UNK> where the mirrored source word is unknown
    emitted = sum(
        d.prediction == tuple(w if VOCAB.stoi.get(w) else "<UNK>" for w in reverse(s))
        for d, s in zip(kept, sentences, strict=True)
    )
    exact = sum(d.match for d in restored)
    assert exact >= 297, f"restored {exact}/300 (model emitted <UNK> right in {emitted}/300)"


@pytest.mark.slow  # the default model: a run of the long tier
def test_reverse_py_puts_zebra_back(default_run, cli):
    proc = cli("reverse.py", "--checkpoint", str(default_run), "the zebra sat")
    assert proc.stdout.splitlines() == ["sat zebra the"], proc.stderr


@pytest.mark.slow  # the default model: a run of the long tier
def test_reverse_py_gives_words_back_as_typed(default_run, cli):
    proc = cli(
        "reverse.py",
        "--checkpoint",
        str(default_run),
        "I love machine learning models",
        "The zebra sat on the Mat.",
    )
    assert proc.stdout.splitlines() == [
        "models learning machine love I",
        "Mat. the on sat zebra The",
    ], proc.stderr


@pytest.mark.slow  # the default model: a run of the long tier
def test_the_default_model_answers_out_of_its_lengths_with_a_warning(default_run, cli):
    long = "the big red dog ran over the lazy brown fox and the cat sat on"  # 15 words
    for sentence, words in ((long, "15 words is longer"), ("cat", "1 word is shorter")):
        proc = cli("reverse.py", "--checkpoint", str(default_run), sentence)
        assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr
        expected = f"warning: {words} than the lengths this model was trained on (3-10 words)"
        assert proc.stderr.startswith(expected) and "exact match measured" in proc.stderr
    in_range = cli("reverse.py", "--checkpoint", str(default_run), "the cat sat on the mat")
    assert in_range.stderr == ""
