"""Training state, the jitted train and eval steps, and one epoch over prepared batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from revseq.batching import Batch
from revseq.config import ModelConfig, TrainConfig
from revseq.vocab import PAD
from revseq_jax import optim
from revseq_jax.losses import masked_cross_entropy
from revseq_jax.model import forward


class TrainState(NamedTuple):
    """Everything a step changes: the step count, the params and the optimizer state."""

    step: jax.Array
    params: dict
    opt_state: Any


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> optim.GradientTransformation:
    """Global-norm clipping then Adam, both hand-written; the rate constant or cosine-decayed."""
    lr = cfg.lr
    if cfg.lr_schedule == "cosine":
        lr = optim.cosine_decay_schedule(cfg.lr, cfg.epochs * steps_per_epoch)
    return optim.chain(
        optim.clip_by_global_norm(cfg.max_norm),
        optim.adam(lr, cfg.b1, cfg.b2, cfg.eps),
    )


def init_state(params: dict, tx: optim.GradientTransformation) -> TrainState:
    """Step 0 with fresh optimizer state."""
    return TrainState(jnp.zeros([], jnp.int32), params, tx.init(params))


def loss_fn(params: dict, cfg: ModelConfig, batch: Batch, key: jax.Array | None):
    """Masked cross-entropy of the forward pass under the batch's forcing mask."""
    logits, _ = forward(params, cfg, batch.src, batch.tgt_in, batch.force, key)
    return masked_cross_entropy(logits, batch.tgt_out)


def make_train_step(cfg: ModelConfig, tx: optim.GradientTransformation) -> Callable:
    """train_step(state, batch, key) -> (state, metrics), jitted, the state's buffers donated.

    Dropout draws from fold_in(key, step), so the same key and data give the same run.
    """

    def train_step(state: TrainState, batch: Batch, key: jax.Array):
        k = jax.random.fold_in(key, state.step) if cfg.dropout > 0 else None
        (loss, count), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, cfg, batch, k
        )
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optim.apply_updates(state.params, updates)
        metrics = {"loss_sum": loss * count, "count": count, "grad_norm": optim.global_norm(grads)}
        return TrainState(state.step + 1, params, opt_state), metrics

    return jax.jit(train_step, donate_argnums=0)


def make_eval_step(cfg: ModelConfig) -> Callable:
    """eval_step(params, batch) -> sums of NLL, target tokens and exactly matched rows.

    The decoder runs free (no forcing), so a row matches exactly when greedy decoding would
    reproduce its reference.
    """

    def eval_step(params: dict, batch: Batch):
        logits, _ = forward(params, cfg, batch.src, batch.tgt_in, jnp.zeros_like(batch.force))
        loss, count = masked_cross_entropy(logits, batch.tgt_out)
        pad = batch.tgt_out == PAD
        hit = (jnp.argmax(logits, -1) == batch.tgt_out) | pad
        exact = (hit.all(axis=1) & ~pad.all(axis=1)).sum()
        return {"loss_sum": loss * count, "count": count, "exact": exact}

    return jax.jit(eval_step)


def sum_metrics(metrics: Sequence[dict]) -> dict[str, float]:
    """Add per-batch device metrics and fetch them once (one host sync per epoch)."""
    summed = jax.tree_util.tree_map(lambda *xs: jnp.sum(jnp.stack(xs)), *metrics)
    return {k: float(v) for k, v in jax.device_get(summed).items()}


def train_epoch(
    train_step: Callable,
    state: TrainState,
    batches: Sequence[Batch],
    key: jax.Array,
    progress: Callable[[int], None] = lambda i: None,
) -> tuple[TrainState, dict]:
    """Run train_step over the batches; returns the state and the summed metrics."""
    metrics = []
    for i, batch in enumerate(batches):
        state, m = train_step(state, batch, key)
        metrics.append(m)
        progress(i + 1)
    return state, sum_metrics(metrics)


def evaluate(eval_step: Callable, params: dict, batches: Sequence[Batch]) -> dict:
    """Summed eval metrics over the batches."""
    return sum_metrics([eval_step(params, b) for b in batches])
