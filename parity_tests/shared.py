"""Helpers of the parity suite: both backends on the same weights and the same ragged batch,
in float64 and float32.

Every test takes `mode`: the dtype, whether the JAX side runs jitted or under
jax.disable_jit(), and the tolerance (max-abs 1e-10 in float64, 1e-5 in float32).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np
import torch

from revseq.batching import Batch
from revseq.config import Config, ModelConfig
from revseq.vocab import EOS, PAD, SOS
from revseq_jax.backend import Backend as JaxBackend
from revseq_torch.backend import Backend as TorchBackend
from revseq_torch.model import Seq2Seq

CFG = ModelConfig(vocab_size=13, embed_dim=6, hidden_dim=8, num_layers=2, dropout=0.0)
TOL = {"float64": 1e-10, "float32": 1e-5}
LENGTHS = (3, 7, 1, 5, 8)  # a ragged batch; width 10 leaves every row some padding


@dataclass(frozen=True)
class Mode:
    """One parity setting: dtype, JAX jitted or not, tolerance."""

    dtype: str
    jit: bool
    tol: float

    @property
    def torch_dtype(self):
        return getattr(torch, self.dtype)

    def jax_fn(self, fn):
        """fn jitted in jit mode; as it is otherwise (jax.disable_jit() is then active)."""
        return jax.jit(fn) if self.jit else fn

    def np(self, x) -> np.ndarray:
        """A JAX or torch value as a float64-or-int numpy array."""
        if isinstance(x, torch.Tensor):
            x = x.detach().numpy()
        return np.asarray(x)


def shared_weights() -> dict[str, np.ndarray]:
    """The weights of the `weights` fixture."""
    with torch.random.fork_rng(devices=[]):  # torch's own initialisers, seeded: test weights
        torch.manual_seed(7)
        module = Seq2Seq(CFG).double()
    arrays = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
    rng = np.random.default_rng(7)
    for k in ("encoder.embedding.weight", "decoder.embedding.weight"):
        arrays[k][PAD] = rng.normal(size=arrays[k].shape[1])
    return arrays


def jax_params(arrays, mode: Mode) -> dict:
    """The shared weights as JAX params in the mode's dtype (the backends' own converter)."""
    return JaxBackend(Config(model=CFG)).from_numpy(
        {k: v.astype(mode.dtype) for k, v in arrays.items()}
    )


def torch_model(arrays, mode: Mode):
    """The shared weights as a torch Seq2Seq in the mode's dtype (the backends' own converter)."""
    return TorchBackend.from_numpy({k: v.astype(mode.dtype) for k, v in arrays.items()})


def ragged_batch(seed: int = 0, p_force: float = 0.5, lengths=LENGTHS, width: int = 10) -> Batch:
    """Source words then EOS, PAD after; target the reversal; a mixed forcing mask."""
    rng = np.random.default_rng(seed)
    B = len(lengths)
    src = np.full((B, width), PAD, np.int32)
    tgt_out = np.full((B, width), PAD, np.int32)
    for i, n in enumerate(lengths):
        words = rng.integers(4, CFG.vocab_size, n)
        src[i, : n + 1] = [*words, EOS]
        tgt_out[i, : n + 1] = [*words[::-1], EOS]
    tgt_in = np.concatenate([np.full((B, 1), SOS, np.int32), tgt_out[:, :-1]], axis=1)
    tgt_in[tgt_out == PAD] = PAD
    force = rng.random((B, width)) < p_force
    return Batch(src, tgt_in, tgt_out, force)


def assert_close(name: str, a, b, tol: float) -> None:
    """max |a - b| <= tol, the failure naming what differed and by how much."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"{name}: shapes {a.shape} != {b.shape}"
    diff = float(np.abs(a - b).max()) if a.size else 0.0
    assert diff <= tol, f"{name}: max abs diff {diff:.3g} > {tol:g}"


def assert_close_dicts(a: dict, b: dict, tol: float, what: str = "") -> None:
    """Every named array of a close to b's; a failure names the parameter path."""
    assert sorted(a) == sorted(b), f"{what}names differ"
    for k in a:
        assert_close(f"{what}{k}", a[k], b[k], tol)
