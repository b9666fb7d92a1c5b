"""Training state, the jitted train and eval steps, and one epoch over prepared batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

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


def train_step_fn(cfg: ModelConfig, tx: optim.GradientTransformation) -> Callable:
    """train_step(state, batch, key) -> (state, metrics), not jitted: one update.

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

    return train_step


def make_train_step(cfg: ModelConfig, tx: optim.GradientTransformation) -> Callable:
    """train_step_fn jitted, the state's buffers donated."""
    return jax.jit(train_step_fn(cfg, tx), donate_argnums=0)


def make_train_chunk(cfg: ModelConfig, tx: optim.GradientTransformation) -> Callable:
    """train_chunk(state, batches, live, key) -> (state, summed metrics): train_step over a
    chunk of K stacked batches [K, B, ...] in one compiled call (a lax.scan), so a small model
    does not pay Python dispatch per step. Steps where live [K] is False change nothing (they
    pad the last chunk of a length to K). Jitted, the state's buffers donated.
    """
    step = train_step_fn(cfg, tx)

    def train_chunk(state: TrainState, batches: Batch, live: jax.Array, key: jax.Array):
        def body(state, xs):
            batch, alive = xs
            new, metrics = step(state, batch, key)
            keep = lambda n, o: jnp.where(alive, n, o)  # noqa: E731
            return jax.tree_util.tree_map(keep, new, state), {
                k: jnp.where(alive, v, 0) for k, v in metrics.items()
            }

        state, metrics = jax.lax.scan(body, state, (batches, live))
        return state, {k: v.sum() for k, v in metrics.items()}

    return jax.jit(train_chunk, donate_argnums=0)


def chunks(batches: Sequence[Batch], size: int) -> list[tuple[Batch, np.ndarray]]:
    """Runs of up to `size` consecutive batches of one shape, each stacked [size, B, ...] and
    padded with all-PAD batches, with its live mask [size]."""
    out, i = [], 0
    while i < len(batches):
        j = i + 1
        while j < len(batches) and j - i < size and batches[j].src.shape == batches[i].src.shape:
            j += 1
        blank = Batch(*(np.zeros_like(x) for x in batches[i]))  # all PAD: no loss, no update
        run = [*batches[i:j], *[blank] * (size - (j - i))]
        stacked = Batch(*(np.stack(xs) for xs in zip(*run, strict=True)))
        out.append((stacked, np.arange(size) < j - i))
        i = j
    return out


def sum_metrics(metrics: Sequence[dict]) -> dict[str, float]:
    """Fetch per-call device metrics at once (one host sync per epoch) and add them up."""
    fetched = jax.device_get(list(metrics))
    return {k: float(sum(m[k] for m in fetched)) for k in fetched[0]} if fetched else {}


def train_epoch(
    train_chunk: Callable,
    state: TrainState,
    batches: Sequence[Batch],
    key: jax.Array,
    size: int,
    progress: Callable[[int], None] = lambda i: None,
) -> tuple[TrainState, dict]:
    """Run train_chunk over the batches in chunks of `size`; the state and the summed metrics."""
    metrics, done = [], 0
    for stacked, live in chunks(batches, size):
        state, m = train_chunk(state, stacked, live, key)
        metrics.append(m)
        done += int(live.sum())
        progress(done)
    return state, sum_metrics(metrics)


def evaluate(cfg: ModelConfig, params: dict, batches: Sequence[Batch]) -> dict:
    """Free-running sums {"loss_sum", "count", "exact"} over the batches.

    The decoder runs free (no forcing), so a row matches exactly when greedy decoding would
    reproduce its reference; the pass is the greedy decoder's own.
    """
    return sum_metrics([decode_and_score(params, cfg, b.src, b.tgt_out)[2] for b in batches])
