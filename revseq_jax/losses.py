"""Masked cross-entropy: the mean over non-PAD target tokens of the batch."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from revseq.task.vocab import PAD


def token_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """-log p(target) per position: logits [B, T, V], targets [B, T] -> [B, T]."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]


def masked_cross_entropy(logits: jax.Array, targets: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean NLL over non-PAD targets, number of them); a batch of only PAD gives loss 0."""
    mask = targets != PAD
    count = mask.sum()
    total = jnp.where(mask, token_nll(logits, targets), 0.0).sum()
    return total / jnp.maximum(count, 1), count
