"""Bahdanau (additive) attention: score = v . tanh(W_h enc + W_s s), PAD keys masked."""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Large but finite: a fully masked row gives a uniform softmax instead of NaN.
MASKED_SCORE = -1e10


def project_keys(p: dict, enc: jax.Array) -> jax.Array:
    """W_h enc, once per batch: [B, S, H] -> [B, S, H]."""
    return enc @ p["W_h"]["weight"].T


def weights(p: dict, keys: jax.Array, mask: jax.Array, query: jax.Array) -> jax.Array:
    """Softmax over source positions [B, S] for decoder state query [B, H]; mask True = real."""
    energy = jnp.tanh(keys + (query @ p["W_s"]["weight"].T)[:, None, :])  # B x S x H
    scores = (energy @ p["v"]["weight"].T)[..., 0]  # B x S
    scores = jnp.where(mask, scores, MASKED_SCORE)
    return jax.nn.softmax(scores, axis=-1)


def attend(p: dict, keys: jax.Array, enc: jax.Array, mask: jax.Array, query: jax.Array):
    """Context [B, H] (the weighted sum of encoder outputs enc [B, S, H]) and weights [B, S]."""
    w = weights(p, keys, mask, query)
    return jnp.einsum("bs,bsh->bh", w, enc), w
