"""A training run, as a recipe: prepare the task; restore or initialise; for each epoch train,
validate, keep the best and the last checkpoint; then evaluate the best on the test split.

What the run writes lives in revseq.training.run_folder, the test-set report in
revseq.training.finish.
"""

from __future__ import annotations

import contextlib
import importlib
import shlex
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from revseq.errors import RevseqError, StoppedError
from revseq.task import corpus
from revseq.task.batching import Batch, Encoded, batches, edges_for, encode, plan, with_unknowns
from revseq.task.config import Config, run_step
from revseq.task.conventions import EVAL_BATCH
from revseq.task.data import Splits, make_splits, task_words
from revseq.task.decoded import Decoded
from revseq.task.init import init_params
from revseq.task.layout import param_count
from revseq.task.vocab import PAD, Vocabulary
from revseq.training import backends, finish, record, run_folder
from revseq.training.processes import Processes
from revseq.training.resume import Progress
from revseq.training.run_folder import RunFolder


class Task(NamedTuple):
    """A run's data: splits, vocabulary, bucket lengths, encoded train split, fixed validation
    batches, and the training steps an epoch takes."""

    splits: Splits
    vocab: Vocabulary
    edges: tuple[int, ...]
    train: Encoded
    val_batches: list[Batch]
    steps_per_epoch: int


def prepare(
    cfg: Config,
    rng: np.random.Generator,
    *,
    folder: Path | None = None,
    text: corpus.Corpus | None = None,
) -> Task:
    """Draw the splits from rng and encode them; rng goes on to drive the epochs' shuffles.
    A corpus run (revseq.task.corpus) takes its splits from `text` (the corpus as read) or
    its file, or from the run folder `folder` a resumed run gives, and draws nothing from
    rng."""
    if cfg.data.corpus:
        splits, vocab = corpus.prepare(cfg, folder, text)
    else:
        splits, vocab = make_splits(cfg.data, rng), Vocabulary(task_words(cfg.data.n_words))
    edges = edges_for(cfg.data.max_len, cfg.data.min_len, cfg.train.length_buckets)
    val_batches = batches(encode(splits.val, vocab), EVAL_BATCH, edges)
    train = encode(splits.train, vocab)
    steps = len(plan(train.lengths, cfg.train.batch_size, edges))
    return Task(splits, vocab, edges, train, val_batches, steps)


def epoch_batches(cfg: Config, *, data: Encoded, edges, rng: np.random.Generator) -> list[Batch]:
    """One epoch's shuffled training batches, with their teacher-forcing masks and some words
    made <UNK> (TrainConfig.unk_rate)."""
    t = cfg.train
    data = with_unknowns(data, t.unk_rate, rng)
    return batches(data, t.batch_size, edges, rng=rng, teacher_forcing=t.teacher_forcing,
                   chunk=t.chunk)  # fmt: skip


def train(
    cfg: Config,
    backend_name: str,
    out: Path,
    *,
    preset: str = "",
    text: corpus.Corpus | None = None,
    log: Callable[[str], None] = print,
    stop: Callable[[], bool] = lambda: False,
    devices: int | None = 1,
    processes: Processes | None = None,
) -> list[Decoded]:
    """A new run in `out` (made once the backend has accepted the config and `devices`: for
    JAX, how many local devices share each batch, None for all): train, keep the best weights
    by validation loss and the state to resume from, evaluate the best on the test split.
    stop() is asked between steps; when it holds, the run saves `last` and raises
    StoppedError. Returns the decoded test sentences; revseq.training.run_folder lists the files.
    `processes`: this process's place in a multi-process JAX run, all of which call this
    (only process 0 writes and logs; default: the only process). `preset`: the preset's name
    `cfg` started from, for the record; `text`: a corpus run's corpus as configure read it
    (default: read its file again)."""
    cfg.validate()
    if cfg.train.compute_dtype != "float32" and backend_name != "jax":
        raise RevseqError(
            f"--compute-dtype {cfg.train.compute_dtype} is for the JAX backend; "
            f"the {backend_name} reference trains in float32"
        )
    processes = processes or Processes()
    spec = record.Record(cfg, backend_name, preset)
    with run_folder.claimed(Path(out), processes, new=True):
        return _run(Path(out), spec, text=text, log=log, stop=stop, devices=devices,
                    processes=processes)  # fmt: skip


def resume(
    out: Path,
    *,
    log: Callable[[str], None] = print,
    stop: Callable[[], bool] = lambda: False,
    devices: int | None = 1,
    processes: Processes | None = None,
) -> list[Decoded]:
    """Go on with the run in `out` from its `last` checkpoint (from the start if it has none
    yet), with its own config and backend; the weights it ends with are those of the run
    had it never stopped (bit for bit on the device count it ran on)."""
    spec, processes = record.read(Path(out)), processes or Processes()
    with run_folder.claimed(Path(out), processes, new=False):
        return _run(Path(out), spec, resuming=True, log=log, stop=stop, devices=devices,
                    processes=processes)  # fmt: skip


def _run(
    out: Path,
    spec: record.Record,
    *,
    resuming: bool = False,
    text: corpus.Corpus | None = None,
    log: Callable[[str], None],
    stop: Callable[[], bool],
    devices: int | None,
    processes: Processes,
) -> list[Decoded]:
    """The recipe that train and resume follow, in lockstep on every process of a run; only
    the writer writes files and logs."""
    cfg, backend_name = spec.config, spec.backend
    log = log if processes.writer else _quiet
    stop = processes.agreed(stop)
    rng = np.random.default_rng(cfg.train.seed)
    task = prepare(cfg, rng, folder=out if resuming else None, text=text)
    backend = open_backend(backend_name, cfg, steps_per_epoch=task.steps_per_epoch, devices=devices)
    folder, saved = open_folder(out, spec, task=task, writer=processes.writer, resuming=resuming)
    log(describe(backend, task, folder))
    aside = prepare_report_aside(backend, task, cfg=cfg, processes=processes)
    epochs_ = cfg.train.epoch_count(task.steps_per_epoch)
    try:
        state, progress = restore_or_init(saved, backend, task=task, rng=rng, log=log)
        folder.write_metrics(progress.history)
        compiled = False
        while progress.epoch <= epochs_:
            progress.data_rng = rng.bit_generator.state  # where this epoch's draws begin
            batches_ = epoch_batches(cfg, data=task.train, edges=task.edges, rng=rng)
            batches_ = batches_[: cfg.train.epoch_length(progress.epoch, task.steps_per_epoch)]
            if not compiled:  # before the first epoch this process trains
                compiled = compile_steps(backend, state, train_batches=batches_, log=log)
            started = time.perf_counter()
            state, sums = train_epoch(backend, state, batches_, progress=progress, folder=folder,
                                      stop=stop, epochs=epochs_,
                                      steps_per_epoch=task.steps_per_epoch)  # fmt: skip
            row = validate(backend, state, task=task, progress=progress, sums=sums,
                           started=started)  # fmt: skip
            folder.log_epoch(row)
            log(epoch_line(row, epochs_))
            keep_best(folder, backend, state=state, progress=progress, row=row, log=log)
            progress.epoch, progress.position, progress.partial = progress.epoch + 1, 0, {}
            progress.data_rng = rng.bit_generator.state  # the next epoch's, for `last`
            folder.save_last(backend.snapshot(state), progress)
    finally:  # also when the run stops: no thread left inside a compile at exit
        if aside:
            aside.join()
        folder.close()
    processes.sync("best saved")  # every process reads the `best` process 0 wrote
    h = progress.history
    items = finish.evaluate_best(folder=folder, backend=backend, task=task, history=h, log=log)
    if processes.writer:
        run_folder.point_latest(folder.path)
    return items


def open_folder(
    out: Path, spec: record.Record, *, task: Task, writer: bool, resuming: bool
) -> tuple[RunFolder, tuple | None]:
    """(The run's folder, made or reopened with its test and corpus splits, and the `last`
    checkpoint's (arrays, progress) when resuming one, read before any write)."""
    folder = RunFolder(out, cfg=spec.config, vocab=task.vocab, backend_name=spec.backend,
                       preset=spec.preset, writer=writer)  # fmt: skip
    saved = folder.load_last() if resuming and folder.has_last() else None
    if resuming:  # the live log keeps what `last` has seen
        reached = run_step(saved[1].epoch, saved[1].position, task.steps_per_epoch) if saved else 0
        folder.reopen(task.splits.test, step=reached)
    else:
        folder.create(task.splits.test)
    folder.save_corpus(task.splits)
    return folder, saved


def prepare_report_aside(
    backend, task: Task, *, cfg: Config, processes: Processes
) -> threading.Thread | None:
    """While the run trains, on a thread of its own: import the figures' module (matplotlib
    and seaborn, about 1.2 s) and compile every decoder the report runs (about 2 s). The steps
    run in XLA, which releases the GIL, so the two overlap; the report at the end finds both
    done (the import lock and JAX's compile cache make it wait for what is not). Only on one
    device of one process: elsewhere a second thread's programs could interleave with the
    collectives of training's, so there the decoders compile when first called. Returns the
    thread, which the run joins before it reports or stops (None: no thread)."""
    if processes.count > 1 or backend.device_count > 1:
        return None

    def prepare() -> None:
        try:
            importlib.import_module("revseq.report.plots")
            with contextlib.suppress(ImportError):  # the event writer's (the tensorboard extra)
                importlib.import_module("tensorboardX")
            if backend.name == "jax":  # torch compiles nothing
                finish.compile_decoders(backend, task, cfg.data)
        except Exception:  # a head start only: the report meets the same error, and says it
            pass

    thread = threading.Thread(target=prepare, daemon=True)
    thread.start()
    return thread


def _quiet(line: str) -> None:
    """The log of a process that does not write."""


def open_backend(
    name: str, cfg: Config, *, steps_per_epoch: int, devices: int | None
) -> backends.Backend:
    """The run's backend, refused (before any file is made) when the model would not fit in
    this host's memory or a batch does not split evenly over its devices."""
    check_memory(cfg)
    if cfg.train.warmup >= (total := cfg.train.total_steps(steps_per_epoch)):
        raise RevseqError(f"--warmup {cfg.train.warmup} must be below the run's {total} steps")
    backend = backends.load(name, cfg, steps_per_epoch=steps_per_epoch, devices=devices)
    n = backend.device_count
    if cfg.train.batch_size % n:  # each device trains on the same number of rows
        raise RevseqError(
            f"batch size {cfg.train.batch_size} does not split over {n} devices; use a "
            f"multiple of {n} (--batch-size) or other --devices"
        )
    return backend


def check_memory(cfg: Config) -> None:
    """RevseqError when the model's weights, gradients and Adam moments (four float32 copies)
    would take more than the memory free on this host (Linux's MemAvailable; elsewhere no
    check: the allocation's own error is caught by the command)."""
    need = 16 * param_count(cfg.model)
    free = available_memory()
    if free is not None and need > free:
        raise RevseqError(
            f"the model needs {need / 2**30:.1f} GiB for its weights, gradients and optimizer "
            f"state and {free / 2**30:.1f} GiB are free: lower --hidden-dim, --embed-dim, "
            "--num-layers or the vocabulary"
        )


def available_memory() -> int | None:
    """Bytes of memory free for a new allocation on this host, when the system says."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def describe(backend: backends.Backend, task: Task, folder: RunFolder) -> str:
    """The run's first log line (after a corpus run's lines about its corpus)."""
    s = task.splits
    return "\n".join(
        [
            *s.about,
            f"Backend {folder.backend_name} on {backend.where} | "
            f"{len(s.train)}/{len(s.val)}/{len(s.test)} sentences | "
            f"vocabulary {len(task.vocab)} | buckets {task.edges} | run folder {folder.path}",
        ]
    )


def restore_or_init(saved, backend, *, task: Task, rng: np.random.Generator, log):
    """(training state, Progress): from the `last` checkpoint's (arrays, progress) when there
    is one (rng set back to where that epoch's draws began, so a resumed run draws the same
    batches and forcing masks again), else fresh weights from the run's seed
    (revseq.task.init) at epoch 1."""
    cfg = backend.cfg
    if saved is None:
        return backend.start(init_params(cfg.model, cfg.train.seed)), Progress()
    arrays, progress = saved
    rng.bit_generator.state = progress.data_rng
    if progress.epoch > cfg.train.epoch_count(task.steps_per_epoch):
        log("Training had finished; evaluating the best model again")
    else:
        length = cfg.train.epoch_length(progress.epoch, task.steps_per_epoch)
        log(f"Resuming at epoch {progress.epoch}, batch {progress.position} of {length}")
    return backend.restore(arrays), progress


def compile_steps(backend: backends.Backend, state, *, train_batches: list[Batch], log) -> bool:
    """Compile the train step for every batch shape before training (JAX; torch: nothing), so
    that the first epoch's time is training; the decoders compile when first called."""
    start = time.perf_counter()
    backend.compile(state, train_batches)
    if (seconds := time.perf_counter() - start) > 0.05:
        shapes = len({b.src.shape for b in train_batches})
        log(f"Compiled the train step for {shapes} shape(s) in {seconds:.1f}s")
    return True


def train_epoch(
    backend: backends.Backend,
    state,
    batches_: list[Batch],
    *,
    progress: Progress,
    folder: RunFolder,
    stop: Callable[[], bool],
    epochs: int,
    steps_per_epoch: int,
):
    """Train on the epoch's batches from progress.position on -> (state, summed metrics),
    each compiled call's figures written to the run's live log as it comes (calls_logger).

    A non-finite step stops the run (unless TrainConfig.skip_nonfinite); a stop() request
    saves `last` where the epoch stands and raises StoppedError.
    """
    pos = progress.position
    with tqdm(
        total=len(batches_), initial=pos, desc=f"Epoch {progress.epoch:02d}/{epochs:02d}",
        unit="step", leave=False, disable=None if folder.writer else True,
    ) as bar:  # fmt: skip
        first = run_step(progress.epoch, 0, steps_per_epoch)  # the run's step before this epoch
        log_call = calls_logger(backend, folder, batches_, epoch=progress.epoch, pos=pos,
                                first=first, bar=bar)  # fmt: skip
        state, sums = backend.train_epoch(state, batches_[pos:], on_call=log_call, stop=stop,
                                          start=progress.partial)  # fmt: skip
    done = pos + int(sums.pop("batches"))
    if sums.get("nonfinite") and not folder.cfg.train.skip_nonfinite:
        bad = pos + int(sums["updates"] - progress.partial.get("updates", 0)) + 1
        raise RevseqError(
            f"non-finite loss or gradient at epoch {progress.epoch}, step {bad} of "
            f"{len(batches_)}: training stopped"
            + ("; best and last keep the last finite model" if progress.history else "")
            + " (--skip-nonfinite skips such steps instead)"
        )
    if done < len(batches_):
        progress.position, progress.partial = done, sums
        folder.save_last(backend.snapshot(state), progress)
        raise StoppedError(
            f"at epoch {progress.epoch}, step {done} of {len(batches_)}; saved "
            f"{folder.path / 'last.safetensors'}; go on with: "
            f"revseq train --resume {shlex.quote(str(folder.path))}"
        )
    return state, sums


def calls_logger(
    backend, folder: RunFolder, batches_: list[Batch], *, epoch: int, pos: int, first: int, bar
):
    """on_call for backend.train_epoch: moves the progress bar and writes the call's row
    (revseq.training.run_folder.RunFolder.log_call): the run's step, mean loss and gradient
    norm, the rate, sentences/s since the previous call."""
    sentences = np.cumsum([0] + [int((b.src != PAD).any(axis=1).sum()) for b in batches_])
    since, since_at = time.perf_counter(), pos  # the previous call's end

    def on_call(done: int, sums: dict) -> None:
        nonlocal since, since_at
        at, now = pos + done, time.perf_counter()
        row = {
            "epoch": epoch,
            "step": first + at,
            "loss": sums["loss_sum"] / sums["count"] if sums["count"] else float("nan"),
            "grad_norm": sums["grad_norm"] / max(sums["updates"], 1),
            "lr": backend.learning_rate(first + at),
            "sentences_per_s": float(sentences[at] - sentences[since_at]) / max(now - since, 1e-9),
        }
        if sums["nonfinite"]:
            row["nonfinite"] = int(sums["nonfinite"])
        since, since_at = now, at
        bar.update(at - bar.n)
        folder.log_call(row)

    return on_call


def validate(
    backend: backends.Backend,
    state,
    *,
    task: Task,
    progress: Progress,
    sums: dict,
    started: float,
) -> dict:
    """The epoch's metrics.jsonl row: the run's step at its end, train loss and mean gradient
    norm, the rate, free-running validation loss, exact match and alignment, seconds since
    `started` (and skipped steps). A non-finite validation loss stops the run."""
    vm = backend.evaluate(state, task.val_batches)
    spe = task.steps_per_epoch
    step = run_step(progress.epoch, backend.cfg.train.epoch_length(progress.epoch, spe), spe)
    row = {
        "epoch": progress.epoch,
        "step": step,
        "train_loss": sums["loss_sum"] / sums["count"] if sums["count"] else float("nan"),
        "grad_norm": sums["grad_norm"] / max(sums["updates"], 1),
        "lr": backend.learning_rate(step),
        "val_loss": vm["loss_sum"] / vm["count"],
        "val_exact": 100.0 * vm["exact"] / len(task.splits.val),
        # the share of word steps whose attention peaks on the mirrored source word
        "val_alignment": 100.0 * vm["aligned"] / max(vm["word_steps"], 1),
        "seconds": time.perf_counter() - started,
    }
    if sums["nonfinite"]:
        row["skipped_steps"] = int(sums["nonfinite"])
    if not np.isfinite(row["val_loss"]):
        raise RevseqError(
            f"training diverged: validation loss {row['val_loss']} at epoch "
            f"{progress.epoch}; the best checkpoint so far is kept"
        )
    return row


def epoch_line(row: dict, epochs_: int) -> str:
    """The log line of an epoch."""
    skipped = f" | skipped {row['skipped_steps']} non-finite" if "skipped_steps" in row else ""
    return (
        f"Epoch {row['epoch']:02d}/{epochs_:02d} | Train Loss: {row['train_loss']:.4f} | "
        f"Val Loss: {row['val_loss']:.4f} | Val Exact: {row['val_exact']:.2f}% | "
        f"Align: {row['val_alignment']:.1f}% | {row['seconds']:.1f}s{skipped}"
    )


def keep_best(folder: RunFolder, backend, *, state, progress: Progress, row: dict, log) -> None:
    """Record the epoch; save `best` when its validation loss is the lowest so far (before
    the loop saves `last`: a crash between the two redoes this epoch)."""
    row["best"] = row["val_loss"] < progress.best_val_loss()
    progress.history.append(row)
    folder.write_metrics(progress.history)
    if row["best"]:
        folder.save_best(backend.to_numpy(backend.params(state)), row["epoch"], row["val_loss"])
        log(f"  -> best model saved (val_loss: {row['val_loss']:.4f})")
