"""Batched greedy decoding: tokens and attention, stopped per sentence at EOS, and the same
pass scored against references (validation), so both share one compiled function."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from revseq.task import ablation
from revseq.task.config import ModelConfig
from revseq.task.conventions import EXTRA_STEPS, exact_and_aligned, live_steps
from revseq.task.vocab import PAD, SOS
from revseq_jax import model, sharding
from revseq_jax.losses import masked_cross_entropy
from revseq_jax.model import forward


@partial(jax.jit, static_argnames="cfg")
def decode_and_score(params: dict, cfg: ModelConfig, src: jax.Array, tgt_out: jax.Array):
    """Greedy decoding of src [B, S], scored against tgt_out [B, S] (all PAD: nothing to score).

    Returns tokens [B, T] (PAD after EOS), attention [B, T, S] (0 there), T = S + EXTRA_STEPS,
    and sums {"loss_sum", "count", "exact", "aligned", "word_steps"}: the free-running NLL of
    the target tokens, their number, the rows whose greedy output equals the reference, and of
    the word-emitting steps run, those whose attention peaks on the mirrored source word.
    """
    B, S = src.shape
    T = S + EXTRA_STEPS
    first = jnp.full((B, T), PAD, src.dtype).at[:, 0].set(SOS)
    logits, weights = forward(params, cfg, src, first, jnp.zeros((B, T), bool))
    tokens = jnp.argmax(logits, axis=-1).astype(src.dtype)
    live = live_steps(jnp, tokens, src)
    loss, count = masked_cross_entropy(logits[:, :S], tgt_out)
    sums = {"loss_sum": loss * count, "count": count}
    sums |= exact_and_aligned(jnp, tokens, weights, src, tgt_out, live)
    return jnp.where(live, tokens, PAD), jnp.where(live[..., None], weights, 0.0), sums


def greedy_decode(params: dict, cfg: ModelConfig, src: jax.Array, blank=None):
    """src [B, S] -> tokens [B, T] (PAD after EOS), attention [B, T, S] (0 there). blank: the
    all-PAD targets decode_and_score is called with, placed on the devices like src (then the
    call reuses validation's compiled decoder); by default numpy zeros."""
    blank = np.zeros(src.shape, np.int32) if blank is None else blank
    tokens, weights, _ = decode_and_score(params, cfg, src, blank)
    return tokens, weights


@partial(jax.jit, static_argnames="cfg")
def _greedy_with_weights(params: dict, cfg: ModelConfig, src: jax.Array, fixed: jax.Array):
    """Greedy tokens [B, T] (not yet stopped) with step t's attention replaced by fixed[:, t]:
    a plain lax.scan of model.decoder_step, the custom-VJP training loop untouched."""
    enc, h = model.encode(params, cfg, src)
    memory = model.prepare_memory(params, cfg, enc, src != PAD)

    def step(carry, w):
        h, y, a = carry
        h, logits, w = model.decoder_step(params, cfg, h, y, memory, fixed=w, a_prev=a)
        y = jnp.argmax(logits, axis=-1).astype(src.dtype)
        return (h, y, None if a is None else w), y

    first = jnp.full(src.shape[:1], SOS, src.dtype)
    start = (model.decoder_start(params, cfg, h), first, memory.prior)
    _, tokens = jax.lax.scan(step, start, fixed.swapaxes(0, 1))
    return tokens.swapaxes(0, 1)


def greedy_decode_with_attention(params: dict, cfg: ModelConfig, src, rule: str, place=None):
    """Greedy decoding of src [B, S] (numpy) with every step attending by `rule`
    (revseq.task.ablation: "uniform" or "mirror") instead of the model's attention -> numpy tokens
    [B, T] (PAD after EOS) and the weights used [B, T, S] (0 there), T = S + EXTRA_STEPS, as
    greedy_decode. `place` puts the inputs on the devices (the backend's mesh; default: the
    default device)."""
    src = np.asarray(src)
    place = place or jnp.asarray
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    fixed = ablation.fixed_weights(src, rule, src.shape[1] + EXTRA_STEPS).astype(dtype)
    tokens = _greedy_with_weights(params, cfg, place(src), place(fixed))
    return ablation.stop(sharding.fetch(tokens), fixed, src)
