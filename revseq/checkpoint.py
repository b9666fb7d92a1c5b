"""Checkpoints: safetensors weights + a JSON sidecar, written atomically, validated on load.

A checkpoint folder holds `model.safetensors` (the notebook's state_dict names) and
`model.json` (format version, config, vocabulary, the weights' SHA-256). Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from revseq.config import Config
from revseq.errors import RevseqError
from revseq.layout import check_shapes, param_shapes
from revseq.vocab import Vocabulary

FORMAT_VERSION = 1
WEIGHTS, SIDECAR = "model.safetensors", "model.json"


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint folder holds, checked against itself."""

    params: dict[str, np.ndarray]
    config: Config
    vocab: Vocabulary
    extra: dict


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync it, then rename over `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)  # mkstemp's 0600 would hide results from other users
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save(
    folder: Path,
    params: dict[str, np.ndarray],
    config: Config,
    vocab: Vocabulary,
    extra: dict | None = None,
) -> None:
    """Write weights then sidecar; the sidecar names the weights' digest, so a torn pair is seen."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    check_shapes(params, config.model)
    blob = st_save({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in params.items()})
    meta = {
        **(extra or {}),
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "vocab": vocab.to_json(),
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
    }
    atomic_write(folder / WEIGHTS, blob)
    atomic_write(folder / SIDECAR, (json.dumps(meta, indent=2) + "\n").encode())


def load(folder: Path) -> Checkpoint:
    """Read and validate a checkpoint folder; any defect raises RevseqError saying what."""
    folder = Path(folder)
    if not folder.is_dir():
        if folder.is_file():
            _refuse_pickle(folder)
        raise RevseqError(f"checkpoint folder not found: {folder}")
    weights, sidecar = folder / WEIGHTS, folder / SIDECAR
    for p in (weights, sidecar):
        if not p.is_file():
            raise RevseqError(f"{folder} is not a revseq checkpoint: {p.name} is missing")
    try:
        meta = json.loads(sidecar.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RevseqError(f"{sidecar} is not valid JSON ({e})") from None
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if version != FORMAT_VERSION:
        raise RevseqError(f"{sidecar}: format_version {version!r} is not {FORMAT_VERSION}")
    config = Config.from_dict(meta.get("config", {}))
    config.validate()
    vocab = Vocabulary.from_json(meta.get("vocab"))
    if len(vocab) != config.model.vocab_size:
        raise RevseqError(
            f"{sidecar}: vocabulary has {len(vocab)} words, config says {config.model.vocab_size}"
        )
    blob = weights.read_bytes()
    if hashlib.sha256(blob).hexdigest() != meta.get("weights_sha256"):
        _refuse_pickle(weights)
        raise RevseqError(f"{weights} does not match {SIDECAR} (truncated, corrupt or replaced)")
    try:
        params = st_load(blob)
    except (SafetensorError, ValueError) as e:
        raise RevseqError(f"{weights} is not a readable safetensors file ({e})") from None
    check_shapes(params, config.model)
    params = {k: params[k] for k in param_shapes(config.model)}  # state_dict order
    extra = {
        k: v
        for k, v in meta.items()
        if k not in ("format_version", "config", "vocab", "weights_sha256")
    }
    return Checkpoint(params, config, vocab, extra)


def _refuse_pickle(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(2)
    if head[:1] == b"\x80" or head == b"PK":
        raise RevseqError(
            f"{path} looks like a pickle or torch.save file; revseq never unpickles "
            "(import a state_dict with scripts/convert.py)"
        )
