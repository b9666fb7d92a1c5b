"""Checkpoints: safetensors weights + a JSON sidecar, written atomically, validated on load.

A checkpoint folder holds `model.safetensors` (the notebook's state_dict names; its header
also carries the format version, config, vocabulary and the tensor bytes' SHA-256) and
`model.json`, a readable copy of that header. Nothing is pickled.
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
    """Write the weights with their metadata in one file, then its readable copy model.json.

    model.safetensors alone is the commit point: its header carries the sidecar (format
    version, config, vocabulary, the SHA-256 of the tensor bytes), so a crash between the two
    renames leaves a loadable checkpoint, old or new, never a torn pair.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    check_shapes(params, config.model)
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in params.items()}
    meta = {
        **(extra or {}),
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "vocab": vocab.to_json(),
        "weights_sha256": hashlib.sha256(_split(st_save(tensors))[1]).hexdigest(),
    }
    atomic_write(folder / WEIGHTS, st_save(tensors, metadata={"revseq": json.dumps(meta)}))
    atomic_write(folder / SIDECAR, (json.dumps(meta, indent=2) + "\n").encode())


def _split(blob: bytes) -> tuple[dict, bytes]:
    """A safetensors file's JSON header and its tensor bytes."""
    n = int.from_bytes(blob[:8], "little") if len(blob) >= 8 else -1
    if not 0 < n <= len(blob) - 8:
        raise ValueError("bad header length")
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def load(folder: Path) -> Checkpoint:
    """Read and validate a checkpoint folder; any defect raises RevseqError saying what."""
    folder = Path(folder)
    if not folder.is_dir():
        if folder.is_file():
            _refuse_pickle(folder)
        raise RevseqError(f"checkpoint folder not found: {folder}")
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise RevseqError(f"{folder} is not a revseq checkpoint: {WEIGHTS} is missing")
    blob = weights.read_bytes()
    try:
        header, data = _split(blob)
        meta = json.loads(header["__metadata__"]["revseq"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        _refuse_pickle(weights)
        raise RevseqError(
            f"{weights} is not a revseq safetensors file (truncated or corrupt?)"
        ) from None
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if version != FORMAT_VERSION:
        raise RevseqError(f"{weights}: format_version {version!r} is not {FORMAT_VERSION}")
    config = Config.from_dict(meta.get("config", {}))
    config.validate()
    vocab = Vocabulary.from_json(meta.get("vocab"))
    if len(vocab) != config.model.vocab_size:
        raise RevseqError(
            f"{weights}: vocabulary has {len(vocab)} words, config says {config.model.vocab_size}"
        )
    if hashlib.sha256(data).hexdigest() != meta.get("weights_sha256"):
        raise RevseqError(
            f"{weights}: tensor bytes do not match their digest (truncated or corrupt)"
        )
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
