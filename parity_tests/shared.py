"""Helpers of the parity suite: both backends on the same weights and the same ragged batch,
in float64 and float32.

Every test takes `mode`: the dtype, whether the JAX side runs jitted or under
jax.disable_jit(), and the tolerance (max-abs 1e-10 in float64, 1e-5 in float32). Tests of
the attention and of what runs it take `case` too: the model config (bahdanau, the notebook's
attention, or location attention) and its shared weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass

import jax
import numpy as np
import pytest
import torch

from revseq.task.batching import Batch
from revseq.task.config import Config, ModelConfig, TrainConfig
from revseq.task.vocab import EOS, PAD, SOS
from revseq_jax.backend import Backend as JaxBackend
from revseq_torch import train as torch_train
from revseq_torch.backend import Backend as TorchBackend
from revseq_torch.model import Seq2Seq

CFG = ModelConfig(vocab_size=13, embed_dim=6, hidden_dim=8, num_layers=2, dropout=0.0)
# Location attention as the `long` preset runs it (prior on the source <EOS>), with the learned
# first decoder state (a parameter of its own) and a kernel of 3 over 3 filters.
LOCATION = dataclasses.replace(
    CFG,
    attention="location",
    attention_prior="eos",
    decoder_init="learned",
    location_filters=3,
    location_width=3,
)
CONFIGS = {"bahdanau": CFG, "location": LOCATION}
TOL = {"float64": 1e-10, "float32": 1e-5}
# float64 proves the backends compute the same math, in the first tier; the suite in float32 is
# the long tier's (CI's float32 evidence: test_notebook_train.py, both backends against the
# notebook's own loop, and test_cross_backend.py, real runs decoded by the other backend).
F32 = pytest.mark.slow
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


def in_mode(dtype: str, jit: bool):
    """The context of one mode: float64 on or off, JAX jitted or under jax.disable_jit()."""
    with jax.enable_x64(dtype == "float64"), contextlib.nullcontext() if jit else jax.disable_jit():
        yield Mode(dtype, jit, TOL[dtype])


@dataclass(frozen=True)
class Case:
    """A model config of the suite and its shared weights (the `case` fixture)."""

    name: str
    cfg: ModelConfig
    weights: dict[str, np.ndarray]


def shared_weights(cfg: ModelConfig = CFG) -> dict[str, np.ndarray]:
    """The weights of the `weights` fixture (and of `case`, for its config)."""
    with torch.random.fork_rng(devices=[]):  # torch's own initialisers, seeded: test weights
        torch.manual_seed(7)
        module = Seq2Seq(cfg).double()
    arrays = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
    rng = np.random.default_rng(7)
    for k in ("encoder.embedding.weight", "decoder.embedding.weight"):
        arrays[k][PAD] = rng.normal(size=arrays[k].shape[1])
    if "decoder.h0" in arrays:  # the module starts it at zeros, the same as no start at all
        arrays["decoder.h0"] = rng.normal(size=arrays["decoder.h0"].shape)
    return arrays


# On its random weights location attention never peaks on the mirrored word and its EOS logit
# hardly depends on the sentence, so decoding tests that need both steer it: F's first filter
# becomes a shift one position left (position j reads the last step's weight at j + 1, as a
# reversal does), weighted by SHIFT in U along v; and EOS's row of fc is scaled by EOS_ROW.
SHIFT, EOS_ROW = 1.0, 3.0


def steer_location(weights: dict) -> dict:
    """Location attention's weights with SHIFT and EOS_ROW applied (see above)."""
    F = weights["decoder.attention.F.weight"].copy()
    F[0, 0] = 0.0
    F[0, 0, -1] = 1.0
    U = weights["decoder.attention.U.weight"].copy()
    v = weights["decoder.attention.v.weight"][0]
    U[:, 0] = SHIFT * v / np.abs(v).max()
    fc = weights["decoder.fc.weight"].copy()
    fc[EOS] *= EOS_ROW
    return weights | {
        "decoder.attention.F.weight": F,
        "decoder.attention.U.weight": U,
        "decoder.fc.weight": fc,
    }


def jax_params(arrays, mode: Mode, cfg: ModelConfig = CFG) -> dict:
    """The shared weights as JAX params in the mode's dtype (the backends' own converter)."""
    return JaxBackend(Config(model=cfg)).from_numpy(
        {k: v.astype(mode.dtype) for k, v in arrays.items()}
    )


def torch_model(arrays, mode: Mode, cfg: ModelConfig = CFG):
    """The shared weights as a torch Seq2Seq in the mode's dtype (the backends' own converter)."""
    return TorchBackend(Config(model=cfg)).from_numpy(
        {k: v.astype(mode.dtype) for k, v in arrays.items()}
    )


def torch_losses(module: Seq2Seq, batches, cfg: TrainConfig, steps_per_epoch: int) -> list:
    """The loss of each torch train_step over the batches, the module trained in place (its
    dropout 0: the generator is never drawn from)."""
    optimizer = torch_train.make_optimizer(cfg, module.parameters())
    training = torch_train.Training(module.train(), optimizer, torch.Generator())
    schedule = torch_train.learning_rate(cfg, steps_per_epoch)
    metrics = [torch_train.train_step(training, b, cfg=cfg, schedule=schedule) for b in batches]
    return [m["loss_sum"] / m["count"] for m in metrics]


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
