"""Training state, the jitted train and eval steps, and one epoch over prepared batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from revseq.batching import Batch
from revseq.config import ModelConfig, TrainConfig
from revseq_jax import optim
from revseq_jax.decode import decode_and_score
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
    """Step 0 with fresh optimizer state (one jitted call, not one small compile per shape)."""
    return jax.jit(lambda p: TrainState(jnp.zeros([], jnp.int32), p, tx.init(p)))(params)


def loss_fn(params: dict, cfg: ModelConfig, batch: Batch, key: jax.Array | None):
    """Masked cross-entropy of the forward pass under the batch's forcing mask."""
    logits, _ = forward(params, cfg, batch.src, batch.tgt_in, batch.force, key)
    return masked_cross_entropy(logits, batch.tgt_out)


def make_train_step(cfg: ModelConfig, tx: optim.GradientTransformation) -> Callable:
    """train_step(state, batch, key) -> (state, metrics), jitted, the state's buffers donated.

    Dropout draws from fold_in(fold_in(key, 1), step), so the same key and data give the same
    run.
    """

    def train_step(state: TrainState, batch: Batch, key: jax.Array):
        k = jax.random.fold_in(jax.random.fold_in(key, 1), state.step) if cfg.dropout else None
        (loss, count), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, cfg, batch, k
        )
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optim.apply_updates(state.params, updates)
        metrics = {"loss_sum": loss * count, "count": count, "grad_norm": optim.global_norm(grads)}
        return TrainState(state.step + 1, params, opt_state), metrics

    return jax.jit(train_step, donate_argnums=0)


def sum_metrics(metrics: Sequence[dict]) -> dict[str, float]:
    """Fetch per-batch device metrics at once (one host sync per epoch) and add them up."""
    fetched = jax.device_get(list(metrics))
    return {k: float(sum(m[k] for m in fetched)) for k in fetched[0]} if fetched else {}


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


def evaluate(cfg: ModelConfig, params: dict, batches: Sequence[Batch]) -> dict:
    """Free-running sums {"loss_sum", "count", "exact"} over the batches.

    The decoder runs free (no forcing), so a row matches exactly when greedy decoding would
    reproduce its reference; the pass is the greedy decoder's own.
    """
    return sum_metrics([decode_and_score(params, cfg, b.src, b.tgt_out)[2] for b in batches])
