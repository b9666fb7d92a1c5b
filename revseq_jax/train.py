"""Training state, the jitted train and eval steps, and one epoch over prepared batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from revseq.task.batching import Batch
from revseq.task.config import ModelConfig, TrainConfig
from revseq.task.conventions import add_up
from revseq_jax import optim
from revseq_jax.decode import decode_and_score
from revseq_jax.losses import masked_cross_entropy
from revseq_jax.model import forward


class TrainState(NamedTuple):
    """Everything a step changes: the count of updates made, the params, the optimizer state
    and the count of steps whose loss or gradient was NaN or Inf."""

    step: jax.Array
    params: dict
    opt_state: Any
    nonfinite: jax.Array


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> optim.GradientTransformation:
    """Global-norm clipping then Adam, both hand-written, at learning_rate's rates."""
    return optim.chain(
        optim.clip_by_global_norm(cfg.max_norm),
        optim.adam(learning_rate(cfg, steps_per_epoch), cfg.b1, cfg.b2, cfg.eps),
    )


def learning_rate(cfg: TrainConfig, steps_per_epoch: int) -> float | Callable:
    """The rate, a constant or a schedule of the updates made: after `warmup` steps rising from
    0, cfg.lr, constant or cosine-decayed to 0 at the end of the run."""
    lr: float | Callable = cfg.lr
    if cfg.lr_schedule == "cosine":
        lr = optim.cosine_decay_schedule(cfg.lr, cfg.total_steps(steps_per_epoch) - cfg.warmup)
    return optim.linear_warmup(lr, cfg.lr, cfg.warmup) if cfg.warmup else lr


def init_state(params: dict, tx: optim.GradientTransformation) -> TrainState:
    """Step 0 with fresh optimizer state (one jitted call, not one small compile per shape)."""
    zero = jnp.zeros([], jnp.int32)
    return jax.jit(lambda p: TrainState(zero, p, tx.init(p), zero))(params)


def loss_fn(
    params: dict,
    cfg: ModelConfig,
    batch: Batch,
    key: jax.Array | None,
    compute_dtype: str | None = None,
):
    """Masked cross-entropy of the forward pass under the batch's forcing mask.

    With compute_dtype (mixed precision: "bfloat16"), the forward pass runs on a copy of the
    params in that dtype, so its matmuls and the elementwise work between them do; the logits
    come back to float32 for the softmax and the loss, and the gradient to the params' own
    dtype through the cast.
    """
    if compute_dtype in (None, "float32"):
        logits, _ = forward(params, cfg, batch.src, batch.tgt_in, batch.force, key)
    else:
        low = jax.tree_util.tree_map(lambda p: p.astype(compute_dtype), params)
        logits, _ = forward(low, cfg, batch.src, batch.tgt_in, batch.force, key)
        logits = logits.astype(jnp.float32)
    return masked_cross_entropy(logits, batch.tgt_out)


def keep_if(cond: jax.Array, new, old):
    """`new` where cond holds, else `old`, leaf by leaf (two pytrees of one structure)."""
    return jax.tree_util.tree_map(lambda n, o: jnp.where(cond, n, o), new, old)


def train_step_fn(
    cfg: ModelConfig,
    tx: optim.GradientTransformation,
    *,
    skip_nonfinite: bool = False,
    compute_dtype: str | None = None,
) -> Callable:
    """train_step(state, batch, key, live=True) -> (state, metrics), not jitted: one update;
    with live False (a step that pads a chunk) nothing changes and every metric is zero.

    Dropout draws from fold_in(fold_in(key, 1), step), so the same key and data give the same
    run. A step whose loss or gradient norm is NaN or Inf changes nothing but the `nonfinite`
    count; unless skip_nonfinite, every later step is refused too, so the state stays the
    last finite one for the caller to report and stop. compute_dtype: see loss_fn.
    """

    def train_step(state: TrainState, batch: Batch, key: jax.Array, live: jax.Array | bool = True):
        k = jax.random.fold_in(jax.random.fold_in(key, 1), state.step) if cfg.dropout else None
        (loss, count), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, cfg, batch, k, compute_dtype
        )
        norm = optim.global_norm(grads)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optim.apply_updates(state.params, updates)
        finite = jnp.isfinite(loss) & jnp.isfinite(norm)
        ok = (finite if skip_nonfinite else finite & (state.nonfinite == 0)) & live
        new = keep_if(ok, TrainState(state.step + 1, params, opt_state, state.nonfinite), state)
        metrics = {
            "loss_sum": jnp.where(ok, loss * count, 0.0),
            "count": jnp.where(ok, count, 0),
            "grad_norm": jnp.where(ok, norm, 0.0),
            "updates": ok.astype(jnp.int32),
            "nonfinite": (~finite & live).astype(jnp.int32),
        }
        return new._replace(nonfinite=state.nonfinite + metrics["nonfinite"]), metrics

    return train_step


def make_train_step(
    cfg: ModelConfig,
    tx: optim.GradientTransformation,
    *,
    skip_nonfinite: bool = False,
    compute_dtype: str | None = None,
) -> jax.stages.Wrapped:
    """train_step_fn jitted, the state's buffers donated."""
    step = train_step_fn(cfg, tx, skip_nonfinite=skip_nonfinite, compute_dtype=compute_dtype)
    return jax.jit(step, donate_argnums=0)


def make_train_chunk(
    cfg: ModelConfig,
    tx: optim.GradientTransformation,
    *,
    skip_nonfinite: bool = False,
    compute_dtype: str | None = None,
) -> jax.stages.Wrapped:
    """train_chunk(state, batches, live, key) -> (state, summed metrics): train_step over a
    chunk of K stacked batches [K, B, ...] in one compiled call (a lax.scan), so a small model
    does not pay Python dispatch per step. Steps where live [K] is False change nothing (they
    pad the last chunk of a length to K). Jitted, the state's buffers donated.
    """
    step = train_step_fn(cfg, tx, skip_nonfinite=skip_nonfinite, compute_dtype=compute_dtype)

    def train_chunk(state: TrainState, batches: Batch, live: jax.Array, key: jax.Array):
        def body(state, xs):
            batch, alive = xs
            return step(state, batch, key, alive)

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


def sum_metrics(metrics: Sequence[dict], start: dict | None = None) -> dict[str, float]:
    """Fetch device metrics at once and add them up, in order, onto `start`."""
    return add_up(jax.device_get(list(metrics)), start)


def train_epoch(
    train_chunk: Callable,
    state: TrainState,
    batches: Sequence[Batch],
    *,
    key: jax.Array,
    size: int,
    on_call: Callable[[int, dict], None] = lambda done, sums: None,
    stop: Callable[[], bool] = lambda: False,
    start: dict | None = None,
    place: Callable = lambda chunk: chunk,
) -> tuple[TrainState, dict]:
    """Run train_chunk over the batches in chunks of `size` until done or stop() holds (it is
    asked before each chunk) -> (state, metrics summed onto `start`, and "batches": how many
    batches were run). `place` puts each (stacked, live) chunk on the devices. After each
    call, on_call(batches done, that call's metric sums) — fetched one call late, while the
    next one runs, so the devices never wait for the host."""
    total, done, pending = dict(start or {}), 0, None
    for stacked, live in chunks(batches, size):
        if stop():
            break
        state, metrics = train_chunk(state, *place((stacked, live)), key)
        if pending:
            total = _report(*pending, total, on_call=on_call)
        done += int(live.sum())
        pending = (done, metrics)
    if pending:
        total = _report(*pending, total, on_call=on_call)
    return state, {**total, "batches": done}


def _report(done: int, metrics: dict, total: dict, *, on_call) -> dict:
    """One call's metrics fetched, handed to on_call, and added onto the epoch's sums."""
    sums = add_up([jax.device_get(metrics)])
    on_call(done, sums)
    return add_up([sums], total)


def evaluate(cfg: ModelConfig, params: dict, batches: Sequence[Batch]) -> dict:
    """Free-running sums {"loss_sum", "count", "exact"} over the batches.

    The decoder runs free (no forcing), so a row matches exactly when greedy decoding would
    reproduce its reference; the pass is the greedy decoder's own.
    """
    return sum_metrics([decode_and_score(params, cfg, b.src, b.tgt_out)[2] for b in batches])
