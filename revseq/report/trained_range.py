"""The lengths a model was trained on, its exact match at each length the run measured, and
the warnings the tools give for a sentence it was not trained for.

A run keeps the figures in its folder (lengths.json: {"trained": [min, max], "exact_by_length":
{words: [correct, total]}} over the test split and the report's probes); a folder without the
file (an older run) gets the warnings without the figures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from revseq.files import atomic_write
from revseq.report.metrics import accuracy_by_length
from revseq.report.probes import Evidence
from revseq.task.config import Config
from revseq.task.data import Sentence
from revseq.task.vocab import SPECIALS, UNK, Vocabulary

FILE = "lengths.json"
LOCATION_REACH = "1-40"  # what --preset long reverses (docs/length-generalisation.md)


def write(folder: Path, ev: Evidence) -> None:
    """lengths.json: the trained lengths and exact match by length of the test split and the
    probes of unseen lengths."""
    by_length = accuracy_by_length([*ev.test, *ev.unseen])
    figures = {
        "trained": [ev.data.min_len, ev.data.max_len],
        "exact_by_length": {str(n): list(ct) for n, ct in by_length.items()},
    }
    atomic_write(Path(folder) / FILE, (json.dumps(figures, indent=1) + "\n").encode())


def read(folder: Path) -> dict[int, tuple[int, int]]:
    """{words: (correct, total)} a run measured ({} when its folder has no readable file)."""
    try:
        figures = json.loads((Path(folder) / FILE).read_text())["exact_by_length"]
        return {int(n): (int(c), int(t)) for n, (c, t) in figures.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def warnings(
    sentences: Sequence[Sentence],
    *,
    cfg: Config,
    vocab: Vocabulary,
    measured: Mapping[int, tuple[int, int]],
) -> list[str]:
    """The caveats on decoding these sentences with a model of `cfg`: lengths outside those it
    trained on (one line for one sentence, a summary for several) and sentences whose words it
    mostly does not know."""
    lo, hi = cfg.data.min_len, cfg.data.max_len
    outside = sorted({len(s) for s in sentences if not lo <= len(s) <= hi})
    lines = []
    if outside:
        count = sum(not lo <= len(s) <= hi for s in sentences)
        what = (
            f"{_words(outside[0])} is {'shorter' if outside[0] < lo else 'longer'} than"
            if len(sentences) == 1
            else f"{count} of {len(sentences)} sentences are outside"
        )
        line = f"{what} the lengths this model was trained on ({lo}-{hi} words)"
        figures = [f"{_rate(measured[n])} at {_words(n)}" for n in outside if n in measured]
        if figures:
            line += f"; its exact match measured {', '.join(figures[:4])}"
        if cfg.model.attention == "bahdanau":
            line += f"; --preset long trains a model that reverses {LOCATION_REACH} words"
        lines.append(line)
    unknown = [s for s in sentences if 2 * _unknown(s, vocab) > len(s)]
    if len(unknown) == 1 and len(sentences) == 1:
        s = unknown[0]
        lines.append(
            f"{_unknown(s, vocab)} of {_words(len(s))} unknown to this model: "
            "they are copied by attention"
        )
    elif unknown:
        lines.append(
            f"{len(unknown)} of {len(sentences)} sentences are mostly words unknown to this "
            "model: they are copied by attention"
        )
    return lines


def _unknown(sentence: Sentence, vocab: Vocabulary) -> int:
    ids = vocab.encode(sentence, add_eos=False)
    return sum(i == UNK for i in ids) if len(vocab) > len(SPECIALS) else len(ids)


def _words(n: int) -> str:
    return f"{n} word{'s' if n != 1 else ''}"


def _rate(ct: tuple[int, int]) -> str:
    c, t = ct
    return f"{100 * c / t:.1f} %"
