"""Checkpoints: safetensors tensors + a JSON sidecar, written atomically, validated on load.

A run folder holds `best.safetensors` (the weights with the lowest validation loss, under the
notebook's state_dict names; its header also carries the format version, config, vocabulary
and the tensor bytes' SHA-256) and `best.json`, a readable copy of that header; `last.*`
(revseq.training.resume) has the same form. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from revseq.errors import RevseqError
from revseq.files import atomic_write
from revseq.task.config import Config
from revseq.task.layout import check_shapes, param_shapes
from revseq.task.vocab import Vocabulary

FORMAT_VERSION = 1
BEST = "best"
BEST_FILE = f"{BEST}.safetensors"


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint folder holds, checked against itself."""

    params: dict[str, np.ndarray]
    config: Config
    vocab: Vocabulary
    extra: dict


def write(folder: Path, name: str, *, tensors: dict[str, np.ndarray], meta: dict) -> None:
    """Write `name`.safetensors (the tensors, meta in its header), then its readable copy
    `name`.json. Non-finite tensors are refused: no NaN model is ever committed.

    The .safetensors file alone is the commit point: its header carries the metadata with the
    SHA-256 of the tensor bytes, so a crash between the two renames (or during either write)
    leaves a loadable file, old or new, never a torn pair.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bad = [k for k, v in tensors.items() if v.dtype.kind == "f" and not np.isfinite(v).all()]
    if bad:
        raise RevseqError(f"refusing to write {name}: {bad[0]} holds NaN or Inf")
    tensors = {k: np.asarray(v, order="C") for k, v in tensors.items()}
    meta = {
        **meta,
        "format_version": FORMAT_VERSION,
        "weights_sha256": hashlib.sha256(_split(st_save(tensors))[1]).hexdigest(),
    }
    atomic_write(folder / f"{name}.safetensors", st_save(tensors, {"revseq": json.dumps(meta)}))
    atomic_write(folder / f"{name}.json", (json.dumps(meta, indent=2) + "\n").encode())


def save(
    folder: Path,
    params: dict[str, np.ndarray],
    *,
    config: Config,
    vocab: Vocabulary,
    extra: dict | None = None,
) -> None:
    """Write the best weights (float32, every shape checked) with config and vocabulary."""
    check_shapes(params, config.model)
    tensors = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
    meta = {**(extra or {}), "config": config.to_dict(), "vocab": vocab.to_json()}
    write(folder, BEST, tensors=tensors, meta=meta)


def _split(blob: bytes) -> tuple[dict, bytes]:
    """A safetensors file's JSON header and its tensor bytes."""
    n = int.from_bytes(blob[:8], "little") if len(blob) >= 8 else -1
    if not 0 < n <= len(blob) - 8:
        raise ValueError("bad header length")
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def read(folder: Path, name: str) -> tuple[dict[str, np.ndarray], dict]:
    """The tensors and metadata of `name`.safetensors, its format version and digest checked;
    any defect raises RevseqError saying what."""
    folder = Path(folder)
    if not folder.is_dir():
        if folder.is_file():
            _refuse_pickle(folder)
        raise RevseqError(f"checkpoint folder not found: {folder}")
    path = folder / f"{name}.safetensors"
    if not path.is_file():
        raise RevseqError(f"{folder} is not a revseq checkpoint: {path.name} is missing")
    blob = path.read_bytes()
    try:
        header, data = _split(blob)
        meta = json.loads(header["__metadata__"]["revseq"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        _refuse_pickle(path)
        raise RevseqError(
            f"{path} is not a revseq safetensors file (truncated or corrupt?)"
        ) from None
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if version != FORMAT_VERSION:
        raise RevseqError(f"{path}: format_version {version!r} is not {FORMAT_VERSION}")
    if hashlib.sha256(data).hexdigest() != meta.get("weights_sha256"):
        raise RevseqError(f"{path}: tensor bytes do not match their digest (truncated or corrupt)")
    try:
        tensors = st_load(blob)
    except (SafetensorError, ValueError) as e:
        raise RevseqError(f"{path} is not a readable safetensors file ({e})") from None
    meta = {k: v for k, v in meta.items() if k not in ("format_version", "weights_sha256")}
    return tensors, meta


def read_config(meta: dict, where: str) -> tuple[Config, Vocabulary]:
    """The config and vocabulary a checkpoint's metadata carries, checked against each other."""
    config = Config.from_dict(meta.get("config", {}))
    config.validate()
    vocab = Vocabulary.from_json(meta.get("vocab", []))
    if len(vocab) != config.model.vocab_size:
        raise RevseqError(
            f"{where}: vocabulary has {len(vocab)} words, config says {config.model.vocab_size}"
        )
    return config, vocab


def load(folder: Path) -> Checkpoint:
    """Read and validate a run folder's best weights; any defect raises RevseqError."""
    tensors, meta = read(folder, BEST)
    config, vocab = read_config(meta, str(Path(folder) / f"{BEST}.safetensors"))
    check_shapes(tensors, config.model)
    params = {k: tensors[k] for k in param_shapes(config.model)}  # state_dict order
    extra = {k: v for k, v in meta.items() if k not in ("config", "vocab")}
    return Checkpoint(params, config, vocab, extra)


def _refuse_pickle(path: Path) -> None:
    """RevseqError if the file starts like a pickle (protocol 2-5) or a torch.save zip, and
    not like safetensors (an 8-byte header length, then "{")."""
    with open(path, "rb") as f:
        head = f.read(9)
    if head[8:9] == b"{":
        return
    pickled = head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
    if pickled or head[:4] == b"PK\x03\x04":
        raise RevseqError(
            f"{path} looks like a pickle or torch.save file; revseq never unpickles "
            "(import a state_dict with scripts/convert.py)"
        )
