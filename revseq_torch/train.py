"""The optimizer of a run, the train and eval steps, and one epoch over prepared batches."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import numpy as np
import torch

from revseq.batching import Batch
from revseq.config import TrainConfig
from revseq.metrics import add_up
from revseq_torch import optim
from revseq_torch.decode import decode_and_score
from revseq_torch.losses import masked_cross_entropy
from revseq_torch.model import Seq2Seq


class Optimizer:
    """Global-norm clipping then hand-written Adam: revseq_jax.train.make_optimizer's chain."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float | optim.Schedule,
        b1: float,
        b2: float,
        eps: float,
        max_norm: float,
        skip_nonfinite: bool = False,
    ):
        self.params = list(params)
        self.max_norm = max_norm
        self.skip_nonfinite = skip_nonfinite
        self.nonfinite = 0  # steps whose loss or gradient was NaN or Inf
        self.adam = optim.Adam(self.params, lr, b1, b2, eps)

    def zero_grad(self) -> None:
        """Forget the gradients of the last backward pass."""
        self.adam.zero_grad()

    def step(self, loss: torch.Tensor | None = None) -> torch.Tensor:
        """Clip the gradients, then update; returns the gradient norm before clipping.

        A step whose loss or gradient norm is NaN or Inf changes nothing but the `nonfinite`
        count; unless skip_nonfinite, every later step is refused too (JAX's rule).
        """
        norm = optim.clip_grad_norm(self.params, self.max_norm)
        finite = bool(torch.isfinite(norm)) and (loss is None or bool(torch.isfinite(loss)))
        if finite and (self.skip_nonfinite or self.nonfinite == 0):
            self.adam.step()
        self.nonfinite += not finite
        return norm


def make_optimizer(
    cfg: TrainConfig, steps_per_epoch: int
) -> Callable[[Iterable[torch.Tensor]], Optimizer]:
    """params -> Optimizer: clipping then Adam, the rate constant or cosine-decayed over the run.

    Like the JAX transform it is made before any params exist; calling it binds the params.
    """
    lr: float | optim.Schedule = cfg.lr
    if cfg.lr_schedule == "cosine":
        lr = optim.cosine_decay_schedule(cfg.lr, cfg.epochs * steps_per_epoch)
    return functools.partial(
        Optimizer,
        lr=lr,
        b1=cfg.b1,
        b2=cfg.b2,
        eps=cfg.eps,
        max_norm=cfg.max_norm,
        skip_nonfinite=cfg.skip_nonfinite,
    )


class TrainState(NamedTuple):
    """What a step changes, both updated in place: the model and its optimizer."""

    model: Seq2Seq
    opt: Optimizer


def init_state(model: Seq2Seq, tx: Callable[[Iterable[torch.Tensor]], Optimizer]) -> TrainState:
    """The model with a fresh optimizer over its parameters."""
    return TrainState(model, tx(model.parameters()))


def to_tensors(batch: Batch) -> Batch:
    """A numpy Batch as tensors (sharing memory); tensors pass through."""
    return Batch(*(torch.as_tensor(np.asarray(x)) for x in batch))


def loss_fn(model: Seq2Seq, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked cross-entropy of the forward pass under the batch's forcing mask."""
    logits, _ = model(batch.src, batch.tgt_in, batch.force)
    return masked_cross_entropy(logits, batch.tgt_out)


def fold_seed(seed: int, *data: int) -> int:
    """A seed derived from seed and data, the role jax.random.fold_in plays on the JAX side."""
    return int(np.random.SeedSequence([seed, *data]).generate_state(1)[0])


def train_step(model: Seq2Seq, opt: Optimizer, batch: Batch) -> dict[str, float]:
    """One update in train mode -> {"loss_sum", "count", "grad_norm" (before clipping),
    "updates", "nonfinite"}; a refused step (see Optimizer.step) adds no loss."""
    batch = to_tensors(batch)
    model.train()
    opt.zero_grad()
    loss, count = loss_fn(model, batch)
    loss.backward()
    before, nonfinite = opt.adam.count, opt.nonfinite
    grad_norm = opt.step(loss)
    ok = opt.adam.count > before
    return {
        "loss_sum": float(loss.detach() * count) if ok else 0.0,
        "count": float(count) if ok else 0.0,
        "grad_norm": float(grad_norm) if ok else 0.0,
        "updates": float(ok),
        "nonfinite": float(opt.nonfinite - nonfinite),
    }


def train_epoch(
    model: Seq2Seq,
    opt: Optimizer,
    batches: Sequence[Batch],
    progress: Callable[[int], None] = lambda i: None,
    stop: Callable[[], bool] = lambda: False,
    start: dict | None = None,
    seed: int | None = None,
) -> dict[str, float]:
    """Run train_step over the batches until done or stop() holds (asked before each step)
    -> metrics summed onto `start`, and "batches": how many were run.

    With a seed, dropout draws come from torch's generator seeded from (seed, 1, updates made)
    before each step, so a run resumed mid-epoch draws what the uninterrupted one did.
    """
    metrics = []
    for batch in batches:
        if stop():
            break
        if seed is not None:
            torch.manual_seed(fold_seed(seed, 1, opt.adam.count))
        metrics.append(train_step(model, opt, batch))
        progress(len(metrics))
    return {**add_up(metrics, start), "batches": len(metrics)}


def evaluate(model: Seq2Seq, batches: Sequence[Batch]) -> dict[str, float]:
    """Free-running sums {"loss_sum", "count", "exact"} over the batches.

    The decoder runs free (no forcing), so a row matches exactly when greedy decoding would
    reproduce its reference; the pass is the greedy decoder's own.
    """
    return add_up(decode_and_score(model, b.src, b.tgt_out)[2] for b in map(to_tensors, batches))
