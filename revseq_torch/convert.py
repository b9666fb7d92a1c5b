"""Notebook state_dict files (torch.save) to and from numpy arrays under the same names."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from revseq.errors import RevseqError
from revseq.files import atomic_write


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a torch.save'd state_dict, loaded with weights_only=True (no code runs)."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RevseqError(f"state_dict file not found: {path}") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RevseqError(f"{path} is not a weights-only torch state_dict ({first})") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise RevseqError(f"{path} does not hold a state_dict (a dict of tensors)")
    return {k: v.detach().to(torch.float32).numpy() for k, v in sd.items()}


def write_state_dict(arrays: dict[str, np.ndarray], path: Path) -> None:
    """torch.save({name: tensor}) written atomically; loadable by the notebook's classes."""
    buf = io.BytesIO()
    torch.save({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in arrays.items()}, buf)
    atomic_write(Path(path), buf.getvalue())
