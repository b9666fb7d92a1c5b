"""A training run: data, epochs with logs, the best checkpoint, then the test-set report."""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from revseq import backends, checkpoint, evaluation, report
from revseq.batching import Batch, Encoded, batches, edges_for, encode, plan
from revseq.cli import progress
from revseq.config import Config
from revseq.data import WORDS, Splits, make_splits
from revseq.errors import RevseqError
from revseq.init import init_params
from revseq.metrics import Decoded
from revseq.vocab import Vocabulary

EVAL_BATCH = 256


def new_run_dir(root: Path = Path("runs")) -> Path:
    """runs/YYYYmmdd-HHMMSS (with a suffix if taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, i = root / stamp, 1
    while path.exists():
        path, i = root / f"{stamp}-{i}", i + 1
    return path


class Task(NamedTuple):
    """A run's generated data: splits, vocabulary, bucket lengths, encoded train split, and
    fixed validation batches."""

    splits: Splits
    vocab: Vocabulary
    edges: tuple[int, ...]
    train: Encoded
    val_batches: list[Batch]


def prepare(cfg: Config, rng: np.random.Generator) -> Task:
    """Draw the splits from rng and encode them; rng goes on to drive the epochs' shuffles."""
    splits = make_splits(cfg.data, rng)
    vocab = Vocabulary(WORDS)
    edges = edges_for(cfg.data.max_len, cfg.data.min_len, cfg.train.length_buckets)
    val_batches = batches(encode(splits.val, vocab), EVAL_BATCH, edges)
    return Task(splits, vocab, edges, encode(splits.train, vocab), val_batches)


def epoch_batches(cfg: Config, data: Encoded, edges, rng: np.random.Generator) -> list[Batch]:
    """One epoch's shuffled training batches, with their teacher-forcing masks."""
    t = cfg.train
    return batches(data, t.batch_size, edges, rng, t.teacher_forcing, t.chunk)


def train(cfg: Config, backend_name: str, out: Path, log: Callable[[str], None] = print):
    """Train, keep the best weights by validation loss, evaluate them on the test split.

    Writes into `out`: model.safetensors + model.json, metrics.jsonl, test.txt,
    attention_heatmap.png, loss_curve.png, report.md. Returns the decoded test sentences.
    """
    cfg.validate()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise RevseqError(f"{out} already holds files; choose a new --out")
    if cfg.model.vocab_size != len(WORDS) + 4:
        raise RevseqError(f"vocab_size must be {len(WORDS) + 4} for this task")
    rng = np.random.default_rng(cfg.train.seed)
    splits, vocab, edges, train_data, val_batches = prepare(cfg, rng)
    steps_per_epoch = len(plan(train_data.lengths, cfg.train.batch_size, edges))
    backend = backends.load(backend_name, cfg, steps_per_epoch)
    out.mkdir(parents=True, exist_ok=True)
    (out / "test.txt").write_text("".join(" ".join(s) + "\n" for s in splits.test))
    log(
        f"Backend {backend_name} | {len(splits.train)}/{len(splits.val)}/{len(splits.test)} "
        f"sentences | vocabulary {len(vocab)} | buckets {edges} | run folder {out}"
    )

    state = backend.start(init_params(cfg.model, cfg.train.seed))
    first = epoch_batches(cfg, train_data, edges, rng)
    start = time.perf_counter()
    backend.compile(state, first, val_batches)
    if (seconds := time.perf_counter() - start) > 0.05:
        shapes = len({b.src.shape for b in first})
        log(f"Compiled the train step for {shapes} shape(s) in {seconds:.1f}s")
    history: list[dict] = []
    best = float("inf")
    extra = {"backend": backend_name, "command": shlex.join(sys.argv)}
    E = cfg.train.epochs
    for epoch in range(1, E + 1):
        start = time.perf_counter()
        train_batches = first if epoch == 1 else epoch_batches(cfg, train_data, edges, rng)
        state, tm = backend.train_epoch(
            state, train_batches, progress(f"Epoch {epoch:02d}/{E:02d}", len(train_batches))
        )
        vm = backend.evaluate(state, val_batches)
        row = {
            "epoch": epoch,
            "train_loss": tm["loss_sum"] / tm["count"],
            "val_loss": vm["loss_sum"] / vm["count"],
            "val_exact": 100.0 * vm["exact"] / len(splits.val),
            "seconds": time.perf_counter() - start,
        }
        if not np.isfinite(row["val_loss"]):
            raise RevseqError(
                f"training diverged: validation loss {row['val_loss']} at epoch "
                f"{epoch}; the best checkpoint so far is kept"
            )
        row["best"] = row["val_loss"] < best
        history.append(row)
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        log(
            f"Epoch {epoch:02d}/{E:02d} | Train Loss: {row['train_loss']:.4f} | "
            f"Val Loss: {row['val_loss']:.4f} | Val Exact: {row['val_exact']:.2f}% | "
            f"{row['seconds']:.1f}s"
        )
        if row["best"]:
            best = row["val_loss"]
            checkpoint.save(
                out,
                backend.to_numpy(backend.params(state)),
                cfg,
                vocab,
                {**extra, "epoch": epoch, "val_loss": best},
            )
            log(f"  -> best model saved (val_loss: {best:.4f})")

    log("Loading the best model for evaluation...")
    ckpt = checkpoint.load(out)
    items = evaluation.decode(backend, backend.from_numpy(ckpt.params), vocab, splits.test, edges)
    log("\n" + report.examples(items))
    log(report.accuracy_line(items))
    log("\n" + report.analysis(items))
    write_report(out, items, history, f"revseq run ({backend_name})")
    log(
        f"\nWrote {out}: model.safetensors, model.json, metrics.jsonl, test.txt, "
        "attention_heatmap.png, loss_curve.png, report.md"
    )
    return items


def heatmap_example(items: list[Decoded]) -> Decoded:
    """The first of the longest test sentences: it shows the most of the pattern."""
    longest = max(len(d.source) for d in items)
    return next(d for d in items if len(d.source) == longest)


def write_report(out: Path, items: list[Decoded], history: list[dict], title: str) -> None:
    """report.md, attention_heatmap.png and (with a history) loss_curve.png."""
    from revseq import plots  # matplotlib and seaborn take a second to import: only here

    d = heatmap_example(items)
    steps = [*d.prediction, "<EOS>"][: d.attention.shape[0]]
    plots.attention_heatmap(
        d.attention,
        [*d.source, "<EOS>"],
        steps,
        out / "attention_heatmap.png",
        f"Attention ({'match' if d.match else 'no match'})",
    )
    if history:
        plots.loss_curve(history, out / "loss_curve.png")
    (out / "report.md").write_text(report.markdown(items, title, history))
