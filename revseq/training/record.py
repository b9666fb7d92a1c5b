"""run.json: what a run was asked to do and with what — config, backend, command lines,
library versions, platform — written when it starts and extended by each resume."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import NamedTuple

from revseq.errors import RevseqError
from revseq.files import atomic_write
from revseq.task.config import Config

RECORD = "run.json"
LIBRARIES = ("numpy", "jax", "jaxlib", "torch", "safetensors")


def invocation() -> dict:
    """This process: its command line, start time, library versions, Python and platform."""
    versions = {}
    for name in LIBRARIES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write(folder: Path, record: dict) -> None:
    """Write run.json atomically."""
    atomic_write(Path(folder) / RECORD, (json.dumps(record, indent=2) + "\n").encode())


class Record(NamedTuple):
    """What run.json says a run is: its config, its backend, and the preset it started from
    ("" when none was named)."""

    config: Config
    backend: str
    preset: str = ""


def start(folder: Path, cfg: Config, backend: str, *, preset: str = "") -> None:
    """The record of a new run."""
    head = {"backend": backend, "preset": preset, "config": cfg.to_dict()}
    write(folder, {**head, "runs": [invocation()]})


def read(folder: Path) -> Record:
    """A run's config, backend and preset from its record."""
    path = Path(folder) / RECORD
    if not Path(folder).is_dir():
        raise RevseqError(f"run folder not found: {folder}")
    try:
        record = json.loads(path.read_text())
        config = Config.from_dict(record["config"])
        rec = Record(config, record["backend"], record.get("preset", ""))
    except FileNotFoundError:
        raise RevseqError(f"{folder} is not a run folder: {RECORD} is missing") from None
    except (ValueError, KeyError, TypeError):
        raise RevseqError(f"{path} is damaged (not the JSON a run writes)") from None
    rec.config.validate()
    return rec


def add_invocation(folder: Path) -> None:
    """Add this process to the record's list of runs (a resume)."""
    record = json.loads((Path(folder) / RECORD).read_text())
    write(folder, {**record, "runs": [*record.get("runs", []), invocation()]})
