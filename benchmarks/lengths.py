"""Exact match per sentence length of trained models, on lengths they may never have seen.

python -m benchmarks.lengths --checkpoint runs/A runs/B --lengths 1-40 --per-length 200

For each checkpoint: `per_length` random sentences of each length made of the model's own
vocabulary (the generated task's words, or a corpus run's vocabulary: the report's probe
words; the same sentences for every checkpoint of a task: drawn from --seed), decoded
greedily, and the run's own test split;
prints one markdown table of exact match per length (a column per checkpoint), then the
sentences too short and too long per checkpoint, and with --json writes every figure.

python -m benchmarks.lengths --summarise docs/data/length-study/*.json

tabulates such files, one row per file (a variant, its checkpoints its seeds): exact match at
chosen lengths, each cell the seeds' figures ("100" when every seed has 100).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from revseq import cli
from revseq.errors import RevseqError
from revseq.inference import Model
from revseq.report.metrics import accuracy_by_length, attention_stats, error_analysis, exact_match
from revseq.report.probes import probe_words
from revseq.task.data import random_sentences
from revseq.training.run_folder import read_test


def parse_lengths(text: str) -> list[int]:
    """ "1-40" or "1,2,11-30" -> the lengths in order."""
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            out.extend(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list like 1,2,11-30") from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError("lengths must be at least 1")
    return out


def measure(folder: Path, lengths: list[int], per_length: int, seed: int, backend: str) -> dict:
    """{"test": [correct, total], "by_length": {n: [correct, total, too_short, too_long,
    mirror, short_by]}} of the checkpoint in `folder`; mirror is the share of word steps whose
    attention peaks on the mirrored source word, short_by {words missing: sentences} of the
    outputs that stop early."""
    model = Model.load(folder, backend)
    words = probe_words(model.ckpt.vocab)
    sentences = random_sentences(words, lengths, per_length, rng=np.random.default_rng(seed))
    items = model.decode(sentences, restore_unk=False)
    test = model.decode(read_test(folder))
    by_length = {}
    for n, (c, t) in accuracy_by_length(items).items():
        mine = [d for d in items if len(d.source) == n]
        errors = error_analysis(mine)
        mirror = attention_stats(mine)["mirror_share"]
        short_by = Counter(n - len(d.prediction) for d in mine if len(d.prediction) < n)
        by_length[n] = [c, t, errors["too_short"], errors["too_long"], mirror, dict(short_by)]
    return {
        "attention": model.ckpt.config.model.attention,
        "words": len(words),
        "corpus": model.ckpt.config.data.corpus,
        "test": list(exact_match(test)),
        "by_length": by_length,
    }


def table(results: dict[str, dict]) -> str:
    """Markdown: a row per length, a column of exact match (%) per checkpoint."""
    names = list(results)
    lengths = sorted({n for r in results.values() for n in r["by_length"]})
    rows = [
        "| words | " + " | ".join(names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for n in lengths:
        cells = [results[k]["by_length"].get(n) for k in names]
        rows.append(
            f"| {n} | " + " | ".join(f"{100 * c[0] / c[1]:.1f}" if c else "" for c in cells) + " |"
        )
    test = [f"{100 * r['test'][0] / r['test'][1]:.2f}" for r in results.values()]
    rows.append("| test split | " + " | ".join(test) + " |")
    return "\n".join(rows)


SUMMARY_LENGTHS = (1, 2, 11, 12, 13, 15, 20, 25, 30, 35, 40)


def _cell(rates: list[float]) -> str:
    """The seeds' exact match (%), one figure when they agree."""
    text = [f"{r:.1f}".removesuffix(".0") for r in rates]
    return text[0] if len(set(text)) == 1 else " / ".join(text)


def summarise(paths: list[Path]) -> str:
    """Markdown: per --json file, exact match at SUMMARY_LENGTHS and 11-30's minimum per seed,
    and the test split."""
    head = [*map(str, SUMMARY_LENGTHS), "min 11-30", "test split"]
    rows = ["| variant | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for path in paths:
        runs = json.loads(path.read_text()).values()

        def rate(r, n):
            c, t = r["by_length"][str(n)][:2]
            return 100 * c / t

        cells = [_cell([rate(r, n) for r in runs]) for n in SUMMARY_LENGTHS]
        cells.append(_cell([min(rate(r, n) for n in range(11, 31)) for r in runs]))
        cells.append(_cell([100 * r["test"][0] / r["test"][1] for r in runs]))
        rows.append(f"| {path.stem} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    p = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--checkpoint", type=Path, nargs="+", help="run folders")
    p.add_argument("--summarise", type=Path, nargs="+", metavar="JSON", help="--json files")
    p.add_argument("--lengths", type=parse_lengths, default=parse_lengths("1-40"))
    p.add_argument("--per-length", type=cli.positive_int, default=200)
    p.add_argument("--seed", type=int, default=7, help="seed of the sentences drawn")
    p.add_argument("--backend", choices=("jax", "torch"), default="jax")
    p.add_argument("--json", type=Path, help="also write the figures here")
    cli.add_cache_flag(p)
    args = p.parse_args()
    if args.summarise:
        print(summarise(args.summarise))
        return
    if not args.checkpoint:
        p.error("give --checkpoint or --summarise")
    cli.compilation_cache(args)
    results = {}
    for folder in args.checkpoint:
        if str(folder) in results:
            raise RevseqError(f"{folder} given twice")
        results[str(folder)] = measure(
            folder, args.lengths, args.per_length, args.seed, args.backend
        )
    print(table(results))
    for name, r in results.items():
        source = f"the vocabulary of {r['corpus']}" if r["corpus"] else "the generated task's"
        print(f"{name}: sentences drawn from {r['words']} words, {source}")
        errs = {n: (s, lo) for n, (_, _, s, lo, *_) in r["by_length"].items() if s or lo}
        print(f"{name} ({r['attention']}): too short / too long by length: {errs or 'none'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    cli.run(main)
