"""Exact match, accuracy by length, and attention statistics measured on decoded sentences;
and the sums both backends make of their per-step training and evaluation figures.

Attention conventions: for a source of n words the encoder sees S = n + 1 tokens (the words,
then <EOS>). Decoder step t < n should emit source word n-1-t (its *mirrored* position);
step n should emit <EOS>. A sentence's attention matrix is [steps it ran, S].
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from revseq.task.decoded import Decoded


def exact_match(items: Sequence[Decoded]) -> tuple[int, int]:
    """(sentences predicted exactly, sentences)."""
    return sum(d.match for d in items), len(items)


def accuracy_by_length(items: Sequence[Decoded]) -> dict[int, tuple[int, int]]:
    """Source length in words -> (exact, total)."""
    out: dict[int, list[int]] = {}
    for d in items:
        row = out.setdefault(len(d.source), [0, 0])
        row[0] += d.match
        row[1] += 1
    return {n: (c, t) for n, (c, t) in sorted(out.items())}


def normalized_entropy(w: np.ndarray) -> float:
    """Entropy of weights over S positions divided by log S (1 = uniform, 0 = one-hot)."""
    if len(w) < 2:
        return 0.0
    p = np.clip(w, 1e-12, 1.0)
    return float(-(w * np.log(p)).sum() / np.log(len(w)))


def _mean(xs: list) -> float:
    return float(np.mean(xs)) if xs else float("nan")


def attention_stats(items: Sequence[Decoded]) -> dict[str, float]:
    """Alignment statistics over every word-emitting step the decoder actually ran.

    mirror_share      share of word steps whose attention peaks on the mirrored position
    mirror_weight     mean weight on the mirrored position
    peak_weight       mean of each step's largest weight
    neighbour_share   share of word steps peaking one position off the mirror
    later_share       share of word steps peaking one position after it (whose encoder state
                      was computed just after reading the mirrored word)
    eos_weight_words  mean weight on the source <EOS> while emitting words
    copy_share        share of word steps whose emitted word is the source word under the peak
    first_/last_*     the same at the first word step and the last (t = n-1)
    eos_step_eos_weight  weight on the source <EOS> at the step that emits <EOS>
    mirror_share_correct / _wrong  mirror_share among exactly matched / other sentences
    """
    acc: dict[str, list] = defaultdict(list)
    for d in items:
        _word_steps(d, acc)
        _end_steps(d, acc)
    return _summarise(acc)


def _word_steps(d: Decoded, acc: dict[str, list]) -> None:
    """Append one sentence's per-word-step observations to acc."""
    n = len(d.source)
    tokens = [*d.source, "<EOS>"]
    for t in range(min(n, d.attention.shape[0])):
        w = d.attention[t]
        peak, mirror = int(np.argmax(w)), n - 1 - t
        acc["mirror"].append(peak == mirror)
        (acc["mirror_correct"] if d.match else acc["mirror_wrong"]).append(peak == mirror)
        acc["mirror_w"].append(float(w[mirror]))
        acc["peak_w"].append(float(w[peak]))
        acc["neighbour"].append(abs(peak - mirror) == 1)
        acc["later"].append(peak == mirror + 1)
        acc["eos_w"].append(float(w[n]))
        acc["uniform_share"].append(1.0 / (n + 1))
        if t < len(d.prediction):
            acc["copy"].append(d.prediction[t] == tokens[peak])


def _end_steps(d: Decoded, acc: dict[str, list]) -> None:
    """Append one sentence's first, last and <EOS>-emitting step observations to acc."""
    n = len(d.source)
    steps = min(n, d.attention.shape[0])
    if steps:
        first, last = d.attention[0], d.attention[steps - 1]
        acc["first_mirror"].append(int(np.argmax(first)) == n - 1)
        acc["first_entropy"].append(normalized_entropy(first))
        acc["first_peak_w"].append(float(first.max()))
        if steps == n:
            acc["last_mirror"].append(int(np.argmax(last)) == 0)
            acc["last_entropy"].append(normalized_entropy(last))
    if d.attention.shape[0] > n and len(d.prediction) == n:  # the step that emitted <EOS>
        acc["eos_step_eos_w"].append(float(d.attention[n, n]))
        acc["eos_step_entropy"].append(normalized_entropy(d.attention[n]))


# attention_stats' name -> the observations it is the mean of.
_MEANS = {
    "mirror_share": "mirror",
    "mirror_weight": "mirror_w",
    "peak_weight": "peak_w",
    "neighbour_share": "neighbour",
    "later_share": "later",
    "eos_weight_words": "eos_w",
    "copy_share": "copy",
    "chance_share": "uniform_share",
    "first_mirror_share": "first_mirror",
    "first_entropy": "first_entropy",
    "first_peak_weight": "first_peak_w",
    "last_mirror_share": "last_mirror",
    "last_entropy": "last_entropy",
    "eos_step_eos_weight": "eos_step_eos_w",
    "eos_step_entropy": "eos_step_entropy",
    "mirror_share_correct": "mirror_correct",
    "mirror_share_wrong": "mirror_wrong",
}


def _summarise(acc: dict[str, list]) -> dict[str, float]:
    """The counts and means of attention_stats (NaN for a mean over no observation)."""
    counts = {"word_steps": len(acc["mirror"]), "eos_steps": len(acc["eos_step_eos_w"])}
    return counts | {name: _mean(acc[key]) for name, key in _MEANS.items()}


def _tokens(words: Sequence[str]) -> list[str]:
    return [*words, "<EOS>"]


def token_accuracy_by_length(items: Sequence[Decoded]) -> dict[int, tuple[int, int]]:
    """Source length -> (reference tokens, <EOS> included, predicted at their position, all
    reference tokens)."""
    out: dict[int, list[int]] = {}
    for d in items:
        ref, pred = _tokens(d.reference), _tokens(d.prediction)
        row = out.setdefault(len(d.source), [0, 0])
        row[0] += sum(r == p for r, p in zip(ref, pred, strict=False))
        row[1] += len(ref)
    return {n: (c, t) for n, (c, t) in sorted(out.items())}


def token_accuracy(items: Sequence[Decoded]) -> tuple[int, int]:
    """(reference tokens predicted at their position, reference tokens), <EOS> included."""
    rows = token_accuracy_by_length(items).values()
    return sum(c for c, _ in rows), sum(t for _, t in rows)


def _adjacent_repeats(words: Sequence[str]) -> int:
    return sum(a == b for a, b in itertools.pairwise(words))


def error_analysis(items: Sequence[Decoded]) -> dict:
    """Where and how the wrong sentences go wrong.

    wrong             sentences not matched exactly
    first_error       1-based output position of each wrong sentence's first wrong token ->
                      how many sentences (a missing or extra <EOS> counts at its position)
    first_error_from_end  the same counted from the reference's end (1 = its last word)
    repeated          wrong sentences with more adjacent repeated words than their reference
    skipped           wrong sentences missing a word of their reference (as a multiset)
    too_short / too_long  wrong sentences with fewer / more words than their reference
    """
    out: dict[str, Any] = {
        "wrong": 0,
        "first_error": defaultdict(int),
        "first_error_from_end": defaultdict(int),
        "repeated": 0,
        "skipped": 0,
        "too_short": 0,
        "too_long": 0,
    }
    for d in items:
        if d.match:
            continue
        out["wrong"] += 1
        ref, pred = _tokens(d.reference), _tokens(d.prediction)
        first = next(i for i, (r, p) in enumerate(zip(ref, pred, strict=False)) if r != p)
        out["first_error"][first + 1] += 1
        out["first_error_from_end"][len(d.reference) - first] += 1
        out["repeated"] += _adjacent_repeats(d.prediction) > _adjacent_repeats(d.reference)
        out["skipped"] += bool(Counter(d.reference) - Counter(d.prediction))
        out["too_short"] += len(d.prediction) < len(d.reference)
        out["too_long"] += len(d.prediction) > len(d.reference)
    out["first_error"] = dict(sorted(out["first_error"].items()))
    out["first_error_from_end"] = dict(sorted(out["first_error_from_end"].items()))
    return out


def attention_by_position(items: Sequence[Decoded]) -> dict[int, dict[str, float]]:
    """1-based decoder position t of the word-emitting steps run -> {"steps", "mirror_share"
    (peak on source word n+1-t), "entropy" (normalised), "eos_mass" (weight on the source
    <EOS>)}."""
    acc: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for d in items:
        n = len(d.source)
        for t in range(min(n, d.attention.shape[0])):
            w, row = d.attention[t], acc[t + 1]
            row["mirror"].append(int(np.argmax(w)) == n - 1 - t)
            row["entropy"].append(normalized_entropy(w))
            row["eos"].append(float(w[n]))
    return {
        t: {
            "steps": len(r["mirror"]),
            "mirror_share": _mean(r["mirror"]),
            "entropy": _mean(r["entropy"]),
            "eos_mass": _mean(r["eos"]),
        }
        for t, r in sorted(acc.items())
    }
