"""The files a training run keeps in its folder, and the only code that writes them.

run.json (revseq.training.record), test.txt, metrics.jsonl, best.* (revseq.training.checkpoint),
last.* (revseq.training.resume) and, for a corpus run, corpus/ (revseq.task.corpus); every file
is written atomically (revseq.training.checkpoint.atomic_write).
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from revseq.errors import RevseqError
from revseq.task import corpus
from revseq.task.config import Config
from revseq.task.data import Sentence, split_words
from revseq.task.vocab import Vocabulary
from revseq.training import checkpoint, record, resume


def new_run_dir(root: Path = Path("runs")) -> Path:
    """runs/YYYYmmdd-HHMMSS (with a suffix if taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, i = root / stamp, 1
    while path.exists():
        path, i = root / f"{stamp}-{i}", i + 1
    return path


LATEST = "latest"


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

    @_writer_only
    def create(self, test: Sequence[Sentence]) -> None:
        """A new run: the folder, run.json and test.txt."""
        self.path.mkdir(parents=True, exist_ok=True)
        record.start(self.path, self.cfg, self.backend_name, self.preset)
        self._write_test(test)

    @_writer_only
    def reopen(self, test: Sequence[Sentence]) -> None:
        """A resumed run: record this process, drop temporaries a crash cut short."""
        record.add_invocation(self.path)
        for tmp in self.path.glob(".*.tmp"):
            tmp.unlink()
        self._write_test(test)

    @_writer_only
    def save_corpus(self, splits) -> None:
        """A corpus run's splits and what reading its corpus found (revseq.task.corpus), once:
        a resumed run keeps what the folder has."""
        if self.cfg.data.corpus and not (self.path / corpus.FOLDER / corpus.ABOUT).exists():
            corpus.save(self.path, splits)

    def _write_test(self, test: Sequence[Sentence]) -> None:
        text = "".join(" ".join(s) + "\n" for s in test)
        checkpoint.atomic_write(self.path / "test.txt", text.encode())

    def has_last(self) -> bool:
        """Whether a `last` checkpoint exists to resume from."""
        return (self.path / f"{resume.LAST}.safetensors").exists()

    def load_last(self) -> tuple[dict[str, np.ndarray], resume.Progress]:
        """The training state's arrays and the progress of `last`, checked against the run."""
        return resume.load(self.path, self.cfg, self.vocab)

    @_writer_only
    def save_last(self, state: dict[str, np.ndarray], progress: resume.Progress) -> None:
        """`last`: everything --resume needs."""
        resume.save(self.path, state, progress, self.cfg, self.vocab)

    @_writer_only
    def save_best(self, params: dict[str, np.ndarray], epoch: int, val_loss: float) -> None:
        """`best`: the weights with the lowest validation loss so far."""
        extra = {"backend": self.backend_name, "preset": self.preset, "command": command()}
        extra |= {"epoch": epoch, "val_loss": val_loss}
        checkpoint.save(self.path, params, self.cfg, self.vocab, extra)

    @_writer_only
    def write_metrics(self, history: list[dict]) -> None:
        """metrics.jsonl from the rows so far (a resumed run drops rows its `last` did not
        see), rewritten whole each epoch."""
        text = "".join(json.dumps(row) + "\n" for row in history)
        checkpoint.atomic_write(self.path / "metrics.jsonl", text.encode())


def command() -> str:
    """This process's command line as a user would type it again: `revseq train ...`,
    `python -m revseq train ...` or `python scripts/train.py ...`."""
    first, rest = Path(sys.argv[0]), sys.argv[1:]
    if first.name == "__main__.py":
        return shlex.join(["python", "-m", first.parent.name, *rest])
    if first.suffix == ".py":
        return shlex.join(["python", str(first), *rest])
    return shlex.join([first.name, *rest])


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
