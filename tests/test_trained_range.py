"""An honest warning out of range: a sentence shorter or longer than the lengths a model was
trained on, or made mostly of words it does not know, gets a line saying so (with the run's
own exact match at that length where it measured one); the answer is still given."""

from __future__ import annotations

import json
import warnings

import pytest

from revseq.errors import RevseqWarning
from revseq.report.trained_range import read
from revseq.report.trained_range import warnings as caveats
from revseq.task.config import preset
from revseq.task.data import WORDS
from revseq.task.vocab import Vocabulary

CFG, VOCAB = preset("default"), Vocabulary(WORDS)
MEASURED = {1: (0, 50), 15: (0, 50), 5: (120, 120)}


def words(n: int, word: str = "cat") -> tuple[str, ...]:
    return (word,) * n


def test_a_sentence_in_range_of_known_words_gets_no_warning():
    assert caveats([words(5)], cfg=CFG, vocab=VOCAB, measured=MEASURED) == []


@pytest.mark.parametrize("n, side", [(15, "longer"), (1, "shorter")])
def test_one_sentence_out_of_range_names_the_trained_lengths_and_the_measured_figure(n, side):
    [line] = caveats([words(n)], cfg=CFG, vocab=VOCAB, measured=MEASURED)
    assert f"{n} word" in line and side in line and "trained on (3-10 words)" in line
    assert f"0.0 % at {n} word" in line and "--preset long" in line


def test_a_location_model_is_not_sent_to_the_long_preset_and_unmeasured_lengths_say_nothing():
    [line] = caveats([words(45)], cfg=preset("long"), vocab=VOCAB, measured={})
    assert "trained on (3-10 words)" in line and "--preset long" not in line
    assert "exact match" not in line


def test_several_sentences_get_one_summary_line():
    [line] = caveats(
        [words(5), words(12), words(1), words(7)], cfg=CFG, vocab=VOCAB, measured=MEASURED
    )
    assert line.startswith("2 of 4 sentences are outside the lengths") and "0.0 % at 1 word" in line


def test_a_sentence_mostly_of_unknown_words_says_they_are_copied():
    s = ("the", "zq", "xv", "kw", "cat")
    assert caveats([s], cfg=CFG, vocab=VOCAB, measured={}) == [
        "3 of 5 words unknown to this model: they are copied by attention"
    ]
    assert caveats([("the", "zq", "cat")], cfg=CFG, vocab=VOCAB, measured={}) == []


def test_the_figures_file_of_a_run_reads_back_and_a_missing_one_is_empty(trained_run, tmp_path):
    figures = read(trained_run("jax", "tiny"))
    assert figures[3][1] > 0 and figures[1] == (figures[1][0], 50), "test split and probes"
    assert read(tmp_path) == {}
    (tmp_path / "lengths.json").write_text(json.dumps({"exact_by_length": "garbled"}))
    assert read(tmp_path) == {}


def test_reverse_prints_the_answer_and_one_warning_line_out_of_range(trained_run, cli):
    run = str(trained_run("jax", "tiny"))  # trained on 3-6 words
    long = " ".join(WORDS[:15])
    proc = cli("reverse", "--checkpoint", run, long, "cat")
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith("warning: 2 of 2 sentences are outside the lengths this model was "
                           "trained on (3-6 words)"), line  # fmt: skip
    alone = cli("reverse", "--checkpoint", run, "cat")
    assert alone.stderr.startswith("warning: 1 word is shorter than the lengths") and alone.stdout
    assert cli("reverse", "--checkpoint", run, "the cat sat").stderr == ""


def test_the_python_api_warns_with_a_revseq_warning(trained_run):
    import revseq

    model = revseq.load(trained_run("jax", "tiny"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(model.reverse(" ".join(WORDS[:15])).split()) > 0
        model.reverse("the cat sat")
    assert [w.category for w in caught] == [RevseqWarning]
    assert "15 words is longer than the lengths this model was trained on" in str(caught[0].message)
