"""What a run trains (model, optimizer, dropout generator), the train and eval steps, and one
epoch over prepared batches."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from revseq.task.batching import Batch
from revseq.task.config import TrainConfig
from revseq.task.conventions import add_up
from revseq_torch import optim
from revseq_torch.decode import decode_and_score
from revseq_torch.losses import masked_cross_entropy
from revseq_torch.model import Seq2Seq


@dataclasses.dataclass
class Training:
    """What a run trains and carries from step to step: the model, its optimizer, the
    generator the model's dropout draws from, the updates made, and the steps whose loss or
    gradient was NaN or Inf (refused)."""

    model: Seq2Seq
    optimizer: optim.Adam
    generator: torch.Generator
    step: int = 0
    nonfinite: int = 0


def make_optimizer(cfg: TrainConfig, params: Iterable[torch.Tensor]) -> optim.Adam:
    """Adam over params with the run's betas and eps, at the base rate cfg.lr (train_step sets
    each step's rate from learning_rate's schedule)."""
    return optim.Adam(params, lr=cfg.lr, betas=(cfg.b1, cfg.b2), eps=cfg.eps)


def learning_rate(cfg: TrainConfig, steps_per_epoch: int) -> optim.Schedule:
    """updates made -> the rate of the next: after `warmup` steps rising from 0, cfg.lr,
    constant or cosine-decayed to 0 at the end of the run (revseq_jax.train.learning_rate)."""
    rate: optim.Schedule = lambda count: cfg.lr  # noqa: E731
    if cfg.lr_schedule == "cosine":
        rate = optim.cosine_decay_schedule(cfg.lr, cfg.total_steps(steps_per_epoch) - cfg.warmup)
    return optim.linear_warmup(rate, cfg.lr, cfg.warmup) if cfg.warmup else rate


def to_tensors(batch: Batch) -> Batch:
    """A numpy Batch as tensors (sharing memory); tensors pass through."""
    return Batch(*(torch.as_tensor(np.asarray(x)) for x in batch))


def loss_fn(model: Seq2Seq, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked cross-entropy of the forward pass under the batch's forcing mask."""
    logits, _ = model(batch.src, batch.tgt_in, batch.force)
    return masked_cross_entropy(logits, batch.tgt_out)


def train_step(
    training: Training, batch: Batch, *, cfg: TrainConfig, schedule: optim.Schedule
) -> dict[str, float]:
    """One update in train mode at the rate schedule(updates made) -> {"loss_sum", "count",
    "grad_norm" (before clipping), "updates", "nonfinite"}.

    The gradients are clipped to a global norm of cfg.max_norm (revseq_jax.train's chain). A
    step whose loss or gradient norm is NaN or Inf changes nothing but the `nonfinite` count
    and adds no loss; unless cfg.skip_nonfinite, every later step is refused too (JAX's rule).
    """
    model, optimizer = training.model, training.optimizer
    batch = to_tensors(batch)
    model.train()
    optimizer.zero_grad()
    loss, count = loss_fn(model, batch)
    loss.backward()
    grad_norm = optim.clip_grad_norm_(model.parameters(), cfg.max_norm)
    finite = bool(torch.isfinite(grad_norm)) and bool(torch.isfinite(loss))
    ok = finite and (cfg.skip_nonfinite or training.nonfinite == 0)
    if ok:
        for group in optimizer.param_groups:
            group["lr"] = schedule(training.step)
        optimizer.step()
        training.step += 1
    training.nonfinite += not finite
    return {
        "loss_sum": float(loss.detach() * count) if ok else 0.0,
        "count": float(count) if ok else 0.0,
        "grad_norm": float(grad_norm) if ok else 0.0,
        "updates": float(ok),
        "nonfinite": float(not finite),
    }


def train_epoch(
    training: Training,
    batches: Sequence[Batch],
    *,
    cfg: TrainConfig,
    schedule: optim.Schedule,
    on_call: Callable[[int, dict], None] = lambda done, sums: None,
    stop: Callable[[], bool] = lambda: False,
    start: dict | None = None,
) -> dict[str, float]:
    """Run train_step over the batches until done or stop() holds (asked before each step)
    -> metrics summed onto `start`, and "batches": how many were run; on_call(batches done,
    sums) after every cfg.chunk steps and after the last (or the last before stop()).

    Dropout draws from training.generator, whose state the run's checkpoints keep, so a run
    resumed mid-epoch draws what the uninterrupted one did.
    """
    total, call, done = dict(start or {}), [], 0
    for batch in batches:
        if stop():
            break
        metrics = train_step(training, batch, cfg=cfg, schedule=schedule)
        total, done = add_up([metrics], total), done + 1
        call.append(metrics)
        if len(call) == cfg.chunk:
            on_call(done, add_up(call))
            call = []
    if call:
        on_call(done, add_up(call))
    return {**total, "batches": done}


def evaluate(model: Seq2Seq, batches: Sequence[Batch]) -> dict[str, float]:
    """Free-running sums {"loss_sum", "count", "exact"} over the batches.

    The decoder runs free (no forcing), so a row matches exactly when greedy decoding would
    reproduce its reference; the pass is the greedy decoder's own.
    """
    return add_up(decode_and_score(model, b.src, b.tgt_out)[2] for b in map(to_tensors, batches))
