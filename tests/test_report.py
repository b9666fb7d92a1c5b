"""Attention statistics on hand-made matrices, and an analysis that follows the numbers."""

import numpy as np
import pytest

from revseq.metrics import Decoded, attention_stats, normalized_entropy
from revseq.report import accuracy_line, analysis, example


def perfect(words):
    """A correct prediction whose attention is the exact anti-diagonal, then <EOS> on <EOS>."""
    n = len(words)
    att = np.zeros((n + 1, n + 1))
    for t in range(n):
        att[t, n - 1 - t] = 1.0
    att[n, n] = 1.0
    return Decoded(tuple(words), tuple(reversed(words)), tuple(reversed(words)), att)


def failed(words):
    """A wrong prediction whose attention stays on the first source word."""
    n = len(words)
    att = np.zeros((n + 1, n + 1))
    att[:, 0] = 1.0
    return Decoded(tuple(words), tuple(reversed(words)), ("dog",) * n, att)


def uniform(words):
    n = len(words)
    return Decoded(
        tuple(words),
        tuple(reversed(words)),
        tuple(reversed(words)),
        np.full((n + 1, n + 1), 1.0 / (n + 1)),
    )


def test_a_perfect_anti_diagonal_scores_100_percent():
    s = attention_stats([perfect(["the", "cat", "sat"]), perfect(["a", "b", "c", "d", "e"])])
    assert s["mirror_share"] == s["copy_share"] == s["first_mirror_share"] == 1.0
    assert s["last_mirror_share"] == 1.0 and s["eos_step_eos_weight"] == 1.0
    assert s["first_entropy"] == 0.0 and s["neighbour_share"] == 0.0
    assert s["word_steps"] == 8


def test_a_uniform_matrix_has_the_uniform_entropy():
    s = attention_stats([uniform(["the", "cat", "sat"])])
    assert s["first_entropy"] == pytest.approx(1.0) and s["last_entropy"] == pytest.approx(1.0)
    assert normalized_entropy(np.full(7, 1 / 7)) == pytest.approx(1.0)
    assert normalized_entropy(np.eye(5)[2]) == pytest.approx(0.0, abs=1e-9)


def test_the_analysis_of_a_good_model_says_yes_and_of_a_failed_one_says_no():
    good = analysis([perfect(["the", "cat", "sat"]), perfect(["red", "car"])])
    assert "sharp anti-diagonal" in good and "   Yes." in good and "100.0 %" in good
    bad = analysis([failed(["the", "cat", "sat"]), failed(["red", "car", "ran"])])
    assert "no anti-diagonal" in bad and "   No." in bad and "0.00 %" in bad
    assert "does not use attention as a pointer" in bad


def test_example_format_and_accuracy_line():
    d = perfect(["the", "cat", "sat"])
    text = example(1, d)
    assert "Input:      the cat sat" in text and "Output:     sat cat the" in text
    assert "Reference:  sat cat the" in text and "MATCH" in text
    assert accuracy_line([d, failed(["x"])]) == "Exact Match Accuracy: 50.00% (1/2)"
