"""Bahdanau (additive) attention: score = v . tanh(W_h enc + W_s s), PAD keys masked.

The one place revseq_jax computes it: model.decoder_step calls `weights`, and the decoder loop
with the hand-written backward pass (revseq_jax.decoder) calls `energy` and `scores`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from revseq.conventions import MASKED_SCORE


def project_keys(p: dict, enc: jax.Array) -> jax.Array:
    """W_h enc, once per batch: [B, S, H] -> [B, S, H]."""
    return enc @ p["W_h"]["weight"].T


def energy(keys: jax.Array, query: jax.Array, W_s: jax.Array) -> jax.Array:
    """tanh(keys + W_s query): keys [B, S, H], query [B, H], W_s [H, H] -> [B, S, H]."""
    return jnp.tanh(keys + (query @ W_s.T)[:, None, :])


def scores(e: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
    """v . e per position [B, S] (v [1, H]), MASKED_SCORE where mask [B, S] is False."""
    return jnp.where(mask, e @ v[0], MASKED_SCORE)


def weights(p: dict, keys: jax.Array, mask: jax.Array, query: jax.Array) -> jax.Array:
    """Softmax over source positions [B, S] for decoder state query [B, H]; mask True = real."""
    e = energy(keys, query, p["W_s"]["weight"])  # B x S x H
    return jax.nn.softmax(scores(e, p["v"]["weight"], mask), axis=-1)


def attend(p: dict, keys: jax.Array, enc: jax.Array, mask: jax.Array, query: jax.Array):
    """Context [B, H] (the weighted sum of encoder outputs enc [B, S, H]) and weights [B, S]."""
    w = weights(p, keys, mask, query)
    return jnp.einsum("bs,bsh->bh", w, enc), w
