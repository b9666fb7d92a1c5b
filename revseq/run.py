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

from revseq import backends, checkpoint, evaluation, faults, probes, record, report, report_files
from revseq import resume as resume_state
from revseq.batching import Batch, Encoded, batches, edges_for, encode, plan, with_unknowns
from revseq.cli import progress
from revseq.config import Config
from revseq.data import Splits, make_splits, task_words
from revseq.errors import RevseqError, StoppedError
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
    vocab = Vocabulary(task_words(cfg.data.n_words))
    edges = edges_for(cfg.data.max_len, cfg.data.min_len, cfg.train.length_buckets)
    val_batches = batches(encode(splits.val, vocab), EVAL_BATCH, edges)
    return Task(splits, vocab, edges, encode(splits.train, vocab), val_batches)


def epoch_batches(cfg: Config, data: Encoded, edges, rng: np.random.Generator) -> list[Batch]:
    """One epoch's shuffled training batches, with their teacher-forcing masks and some words
    made <UNK> (TrainConfig.unk_rate)."""
    t = cfg.train
    data = with_unknowns(data, t.unk_rate, rng)
    return batches(data, t.batch_size, edges, rng, t.teacher_forcing, t.chunk)


def train(
    cfg: Config,
    backend_name: str,
    out: Path,
    log: Callable[[str], None] = print,
    stop: Callable[[], bool] = lambda: False,
    devices: int | None = None,
) -> list[Decoded]:
    """A new run in `out` (made once the backend has accepted the config and `devices`: for
    JAX, how many local devices share each batch, None for all): train, keep the best weights
    by validation loss and the state to resume from, evaluate the best on the test split.
    stop() is asked between steps; when it holds, the run saves `last` and raises
    StoppedError.

    Writes into `out`: run.json, best.safetensors + best.json, last.safetensors + last.json,
    metrics.jsonl, test.txt, attention_heatmap.png, loss_curve.png, report.md. Returns the
    decoded test sentences.
    """
    cfg.validate()
    if cfg.train.compute_dtype != "float32" and backend_name != "jax":
        raise RevseqError(
            f"--compute-dtype {cfg.train.compute_dtype} is for the JAX backend; "
            f"the {backend_name} reference trains in float32"
        )
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise RevseqError(f"{out} already holds files; choose a new --out")
    return _train(out, cfg, backend_name, False, log, stop, devices)


def resume(
    out: Path,
    log: Callable[[str], None] = print,
    stop: Callable[[], bool] = lambda: False,
    devices: int | None = None,
) -> list[Decoded]:
    """Go on with the run in `out` from its `last` checkpoint (from the start if it has none
    yet), with its own config and backend; the weights it ends with are those of the run
    had it never stopped (bit for bit on the device count it ran on)."""
    out = Path(out)
    cfg, backend_name = record.read(out)
    return _train(out, cfg, backend_name, True, log, stop, devices)


def _train(out: Path, cfg: Config, backend_name: str, resuming: bool, log, stop, devices):
    rng = np.random.default_rng(cfg.train.seed)
    splits, vocab, edges, train_data, val_batches = prepare(cfg, rng)
    steps_per_epoch = len(plan(train_data.lengths, cfg.train.batch_size, edges))
    backend = backends.load(backend_name, cfg, steps_per_epoch, devices)
    n = backend.device_count
    if cfg.train.batch_size % n:  # each device trains on the same number of rows
        raise RevseqError(
            f"batch size {cfg.train.batch_size} does not split over {n} devices; use a "
            f"multiple of {n} (--batch-size) or other --devices"
        )
    if not resuming:
        out.mkdir(parents=True, exist_ok=True)
        record.start(out, cfg, backend_name)
    has_last = (out / f"{resume_state.LAST}.safetensors").exists()
    snap = resume_state.load(out, cfg, vocab) if resuming and has_last else None
    if resuming:  # the folder is sound: record this process, drop writes cut short by a crash
        record.add_invocation(out)
        for tmp in out.glob(".*.tmp"):
            tmp.unlink()
    test_text = "".join(" ".join(s) + "\n" for s in splits.test)
    checkpoint.atomic_write(out / "test.txt", test_text.encode())
    log(
        f"Backend {backend_name} on {backend.where} | "
        f"{len(splits.train)}/{len(splits.val)}/{len(splits.test)} sentences | "
        f"vocabulary {len(vocab)} | buckets {edges} | run folder {out}"
    )
    if snap is not None:
        state = backend.restore(snap.state)
        rng.bit_generator.state = snap.data_rng
        if snap.epoch > cfg.train.epochs:
            log("Training had finished; evaluating the best model again")
        else:
            log(f"Resuming at epoch {snap.epoch}, batch {snap.position} of {steps_per_epoch}")
    else:
        state = backend.start(init_params(cfg.model, cfg.train.seed))
        snap = resume_state.Snapshot({}, 1, 0, rng.bit_generator.state, [], {})
    epoch, position, history, partial = snap.epoch, snap.position, snap.history, snap.partial
    write_metrics(out, history)
    best = min((r["val_loss"] for r in history), default=float("inf"))
    extra = {"backend": backend_name, "command": shlex.join(sys.argv)}
    E = cfg.train.epochs

    def save_last(epoch: int, position: int, data_rng: dict, partial: dict) -> None:
        snap = resume_state.Snapshot(
            backend.snapshot(state), epoch, position, data_rng, history, partial
        )
        resume_state.save(out, snap, cfg, vocab)

    if epoch <= E:
        data_rng = rng.bit_generator.state  # before this epoch's draws: resuming redraws them
        batches = epoch_batches(cfg, train_data, edges, rng)
        start = time.perf_counter()
        backend.compile(state, batches, val_batches)
        if (seconds := time.perf_counter() - start) > 0.05:
            shapes = len({b.src.shape for b in batches})
            log(f"Compiled the train step for {shapes} shape(s) in {seconds:.1f}s")
    while epoch <= E:
        start = time.perf_counter()
        bar = progress(f"Epoch {epoch:02d}/{E:02d}", len(batches))

        def stepped(i: int, offset: int = position, bar=bar) -> None:
            bar(offset + i)
            faults.point("step")

        state, tm = backend.train_epoch(state, batches[position:], stepped, stop, partial)
        done = position + int(tm.pop("batches"))
        if tm.get("nonfinite") and not cfg.train.skip_nonfinite:
            bad = position + int(tm["updates"] - partial.get("updates", 0)) + 1
            raise RevseqError(
                f"non-finite loss or gradient at epoch {epoch}, step {bad} of {len(batches)}: "
                f"training stopped; best and last keep the last finite model "
                f"(--skip-nonfinite skips such steps instead)"
            )
        if done < len(batches):
            save_last(epoch, done, data_rng, tm)
            raise StoppedError(
                f"at epoch {epoch}, step {done} of {len(batches)}; saved "
                f"{out / 'last.safetensors'}; go on with: "
                f"python scripts/train.py --resume {shlex.quote(str(out))}"
            )
        vm = backend.evaluate(state, val_batches)
        row = {
            "epoch": epoch,
            "train_loss": tm["loss_sum"] / tm["count"] if tm["count"] else float("nan"),
            "val_loss": vm["loss_sum"] / vm["count"],
            "val_exact": 100.0 * vm["exact"] / len(splits.val),
            # the share of word steps whose attention peaks on the mirrored source word
            "val_alignment": 100.0 * vm["aligned"] / max(vm["word_steps"], 1),
            "seconds": time.perf_counter() - start,
        }
        if tm["nonfinite"]:
            row["skipped_steps"] = int(tm["nonfinite"])
        if not np.isfinite(row["val_loss"]):
            raise RevseqError(
                f"training diverged: validation loss {row['val_loss']} at epoch "
                f"{epoch}; the best checkpoint so far is kept"
            )
        row["best"] = row["val_loss"] < best
        history.append(row)
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        skipped = f" | skipped {row['skipped_steps']} non-finite" if tm["nonfinite"] else ""
        log(
            f"Epoch {epoch:02d}/{E:02d} | Train Loss: {row['train_loss']:.4f} | "
            f"Val Loss: {row['val_loss']:.4f} | Val Exact: {row['val_exact']:.2f}% | "
            f"Align: {row['val_alignment']:.1f}% | {row['seconds']:.1f}s{skipped}"
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
        epoch, position, partial = epoch + 1, 0, {}
        data_rng = rng.bit_generator.state
        if epoch <= E:
            batches = epoch_batches(cfg, train_data, edges, rng)
        save_last(epoch, 0, data_rng, {})  # after best: a crash between redoes this epoch

    log("Loading the best model for evaluation...")
    ckpt = checkpoint.load(out)
    params = backend.from_numpy(ckpt.params)

    def decode(sentences):
        return evaluation.decode(backend, params, vocab, sentences, edges)

    items = decode(splits.test)
    log("\n" + report.examples(items))
    log(report.accuracy_line(items))
    ev = probes.gather(decode, items, cfg.data)
    log("\n" + report.analysis(items, ev))
    report_files.write(out, ev, history, f"revseq run ({backend_name})")
    log(
        f"\nWrote {out}: run.json, best.safetensors, last.safetensors (+ .json), "
        "metrics.jsonl, test.txt, report.md, attention_heatmap.png, attention_*.png, "
        "loss_curve.png, alignment_curve.png"
    )
    return items


def read_metrics(folder: Path) -> list[dict]:
    """The rows of a run folder's metrics.jsonl ([] when it has none)."""
    path = Path(folder) / "metrics.jsonl"
    if not path.is_file():
        return []
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except ValueError:
        raise RevseqError(f"{path} is damaged (not one JSON object a line)") from None


def write_metrics(out: Path, history: list[dict]) -> None:
    """metrics.jsonl from the rows so far (a resumed run drops rows its `last` did not see)."""
    text = "".join(json.dumps(row) + "\n" for row in history)
    checkpoint.atomic_write(out / "metrics.jsonl", text.encode())
