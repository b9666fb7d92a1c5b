"""The files a training run keeps in its folder, and the only code that writes them.

run.json (revseq.training.record), test.txt, metrics.jsonl, best.* (revseq.training.checkpoint),
last.* (revseq.training.resume) and, for a corpus run, corpus/ (revseq.task.corpus); every file
is written atomically (revseq.files.atomic_write).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from revseq.errors import RevseqError, StoppedError
from revseq.files import FolderLock, atomic_write
from revseq.task import corpus
from revseq.task.config import Config
from revseq.task.data import Sentence, split_words
from revseq.task.vocab import Vocabulary
from revseq.training import checkpoint, record, resume
from revseq.training.processes import Processes


def new_run_dir(root: Path = Path("runs")) -> Path:
    """runs/YYYYmmdd-HHMMSS (with a suffix if taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, i = root / stamp, 1
    while path.exists():
        path, i = root / f"{stamp}-{i}", i + 1
    return path


LATEST = "latest"
STEPS = "steps.jsonl"


@contextlib.contextmanager
def claimed(path: Path, processes: Processes, *, new: bool) -> Iterator[None]:
    """The run folder `path` held by this run while it lasts (a lock file only the writer
    takes): a second run or resume there is refused in one line, on every process, and its
    folder is left as it was. A new run needs the folder absent or empty; if it fails before
    it has written a checkpoint, what it wrote goes (the folder too, when it made it). A folder
    that holds a checkpoint is never removed."""
    path, lock = Path(path), FolderLock(path)
    existed, error = path.exists(), ""
    if processes.writer:
        try:
            error = _claim(path, lock, new=new)
        except RevseqError as e:
            error = str(e)
    if error := processes.from_writer(error):
        raise RevseqError(error)
    try:
        yield
    except StoppedError:
        raise
    except BaseException:
        if new and processes.writer and not any(path.glob("*.safetensors")):
            _remove(path, keep_folder=existed)
        raise
    finally:
        lock.release()


def _claim(path: Path, lock: FolderLock, *, new: bool) -> str:
    """Take the folder's lock -> "" or why the folder cannot be this run's."""
    if new:
        if path.exists() and not path.is_dir():
            return f"{path} is not a directory; --out takes a folder"
        path.mkdir(parents=True, exist_ok=True)
    lock.acquire()
    if new and any(p.name != FolderLock.NAME for p in path.iterdir()):
        lock.release()
        return f"{path} already holds files; choose a new --out"
    return ""


def _remove(path: Path, *, keep_folder: bool) -> None:
    """What a failed new run wrote in `path` (and `path` itself unless keep_folder)."""
    if not keep_folder:
        shutil.rmtree(path, ignore_errors=True)
        return
    for entry in path.iterdir():
        if entry.name != FolderLock.NAME:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink(missing_ok=True)


def point_latest(folder: Path) -> None:
    """Make `latest` beside `folder` (runs/latest for a run in runs/) a link to it, replaced
    atomically; an entry named `latest` that is not a link is left alone."""
    folder = Path(folder)
    link = folder.parent / LATEST
    if folder.name == LATEST or (link.exists() and not link.is_symlink()):
        return
    tmp = folder.parent / f".{LATEST}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(folder.name, target_is_directory=True)
    os.replace(tmp, link)


def _writer_only(method):
    """A RunFolder method that writes: a no-op on a process that is not the writer."""

    @functools.wraps(method)
    def write(self, *args, **kwargs):
        if self.writer:
            method(self, *args, **kwargs)

    return write


class RunFolder:
    """A run folder seen by the run that trains in it: config, vocabulary and backend known.

    In a run of several processes only one, the writer, writes; for the others every write
    is a no-op (all of them read `last` on resume: the folder is on a shared file system)."""

    def __init__(
        self,
        path: Path,
        *,
        cfg: Config,
        vocab: Vocabulary,
        backend_name: str,
        preset: str = "",
        writer: bool = True,
    ):
        self.path, self.cfg, self.vocab, self.backend_name = Path(path), cfg, vocab, backend_name
        self.preset, self.writer = preset, writer
        self.events: Any = None  # TensorBoard's writer once a row is logged; False: none
        self.purge_step: int | None = None
        self.calls: list[dict] = []  # the epoch's call rows, for TensorBoard at its end

    @_writer_only
    def create(self, test: Sequence[Sentence]) -> None:
        """A new run: the folder, run.json and test.txt."""
        self.path.mkdir(parents=True, exist_ok=True)
        record.start(self.path, self.cfg, self.backend_name, preset=self.preset)
        self._write_test(test)

    @_writer_only
    def reopen(self, test: Sequence[Sentence], step: int) -> None:
        """A resumed run: record this process, drop temporaries a crash cut short and the
        live log's rows after `step`, where `last` stands (they are trained again)."""
        record.add_invocation(self.path)
        for tmp in self.path.glob(".*.tmp"):
            tmp.unlink()
        self._write_test(test)
        rows = [r for r in read_steps(self.path) if r["step"] <= step]
        atomic_write(self.path / STEPS, "".join(json.dumps(r) + "\n" for r in rows).encode())
        self.purge_step = step

    @_writer_only
    def log_call(self, row: dict) -> None:
        """A compiled call's row, appended to steps.jsonl at once (and kept for TensorBoard)."""
        with open(self.path / STEPS, "a") as f:
            f.write(json.dumps(row) + "\n")
        self.calls.append(row)

    @_writer_only
    def log_epoch(self, row: dict) -> None:
        """An epoch's rows to TensorBoard's event file, when tensorboardX is installed: its
        calls' train/loss, train/grad_norm, train/lr, train/sentences_per_s, and its
        val/loss, val/exact, val/alignment, at the run's step (written at the epoch's end, so
        that no call waits for tensorboardX to load)."""
        for call in self.calls:
            self._scalars("train", call, ("loss", "grad_norm", "lr", "sentences_per_s"))
        self.calls = []
        renamed = {"loss": row["val_loss"], "exact": row["val_exact"]}
        renamed |= {"alignment": row["val_alignment"], "step": row["step"]}
        self._scalars("val", renamed, ("loss", "exact", "alignment"))

    def _scalars(self, prefix: str, row: dict, keys: tuple[str, ...]) -> None:
        if self.events is None:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                self.events = False
                return
            self.events = SummaryWriter(str(self.path), purge_step=self.purge_step)
        if self.events:
            for key in keys:
                self.events.add_scalar(f"{prefix}/{key}", row[key], row["step"])

    def close(self) -> None:
        """Flush and close TensorBoard's event file, if one is open."""
        if self.events:
            self.events.close()
        self.events = None

    @_writer_only
    def save_corpus(self, splits) -> None:
        """A corpus run's splits and what reading its corpus found (revseq.task.corpus), once:
        a resumed run keeps what the folder has."""
        if self.cfg.data.corpus and not (self.path / corpus.FOLDER / corpus.ABOUT).exists():
            corpus.save(self.path, splits)

    def _write_test(self, test: Sequence[Sentence]) -> None:
        text = "".join(" ".join(s) + "\n" for s in test)
        atomic_write(self.path / "test.txt", text.encode())

    def has_last(self) -> bool:
        """Whether a `last` checkpoint exists to resume from."""
        return (self.path / f"{resume.LAST}.safetensors").exists()

    def load_last(self) -> tuple[dict[str, np.ndarray], resume.Progress]:
        """The training state's arrays and the progress of `last`, checked against the run."""
        cfg, vocab, backend = self.cfg, self.vocab, self.backend_name
        return resume.load(self.path, config=cfg, vocab=vocab, backend=backend)

    @_writer_only
    def save_last(self, state: dict[str, np.ndarray], progress: resume.Progress) -> None:
        """`last`: everything --resume needs."""
        resume.save(self.path, state, progress, config=self.cfg, vocab=self.vocab,
                    backend=self.backend_name)  # fmt: skip

    @_writer_only
    def save_best(self, params: dict[str, np.ndarray], epoch: int, val_loss: float) -> None:
        """`best`: the weights with the lowest validation loss so far."""
        extra: dict[str, Any] = {
            "backend": self.backend_name,
            "preset": self.preset,
            "command": command(),
            "epoch": epoch,
            "val_loss": val_loss,
        }
        checkpoint.save(self.path, params, config=self.cfg, vocab=self.vocab, extra=extra)

    @_writer_only
    def write_metrics(self, history: list[dict]) -> None:
        """metrics.jsonl from the rows so far (a resumed run drops rows its `last` did not
        see), rewritten whole each epoch."""
        text = "".join(json.dumps(row) + "\n" for row in history)
        atomic_write(self.path / "metrics.jsonl", text.encode())


def command() -> str:
    """This process's command line as a user would type it again: `revseq train ...`,
    `python -m revseq train ...` or `python scripts/train.py ...`."""
    first, rest = Path(sys.argv[0]), sys.argv[1:]
    if first.name == "__main__.py":
        return shlex.join(["python", "-m", first.parent.name, *rest])
    if first.suffix == ".py":
        return shlex.join(["python", str(first), *rest])
    return shlex.join([first.name, *rest])


def read_steps(folder: Path) -> list[dict]:
    """The rows of a run folder's steps.jsonl ([] when it has none; a row a crash cut short
    is left out)."""
    path = Path(folder) / STEPS
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            rows.append(json.loads(line))
    return [r for r in rows if isinstance(r, dict) and "step" in r]


def read_metrics(folder: Path) -> list[dict]:
    """The rows of a run folder's metrics.jsonl ([] when it has none)."""
    path = Path(folder) / "metrics.jsonl"
    if not path.is_file():
        return []
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except ValueError:
        raise RevseqError(f"{path} is damaged (not one JSON object a line)") from None


def read_test(folder: Path) -> list[Sentence]:
    """A run folder's test split (test.txt), as the run wrote it: one sentence a line."""
    return [split_words(line) for line in (Path(folder) / "test.txt").read_text().splitlines()]
