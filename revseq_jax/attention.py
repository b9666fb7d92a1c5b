"""Additive attention: score = v . tanh(W_h enc + W_s s [+ U (F * a_prev)]), PAD keys masked.

"bahdanau" (the notebook's) has the content terms only; "location", the hybrid attention of
Chorowski et al. (2015), adds U f with f = F * a_prev, a 1-D convolution over the previous
step's weights a_prev [B, S] (zero-padded at both ends, so f at position j reads a_prev at
j - width//2 .. j + width//2; F [k, 1, width] is nn.Conv1d's weight, U [H, k]).

The one place revseq_jax computes it: the decoder step (revseq_jax.decoder.step) calls
`weights`, and the decoder loop's hand-written backward pass recomputes `energy` and
`location_term` and differentiates `windows` by hand.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from revseq.task.conventions import MASKED_SCORE


def project_keys(p: dict, enc: jax.Array) -> jax.Array:
    """W_h enc, once per batch: [B, S, H] -> [B, S, H]."""
    return enc @ p["W_h"]["weight"].T


def windows(a: jax.Array, width: int) -> jax.Array:
    """a [B, S] -> [B, S, width]: position j's window a[j - width//2 .. j + width//2], 0 off
    the ends (what nn.Conv1d(padding=width // 2) multiplies by its kernel)."""
    S, pad = a.shape[1], width // 2
    padded = jnp.pad(a, ((0, 0), (pad, pad)))
    return jnp.stack([padded[:, i : i + S] for i in range(width)], axis=-1)


def windows_transpose(d: jax.Array) -> jax.Array:
    """The adjoint of `windows`: d [B, S, width] -> [B, S], each entry added back to the
    position it was read from."""
    S, width = d.shape[1], d.shape[2]
    pad = width // 2
    total = jnp.zeros((d.shape[0], S + width - 1), d.dtype)
    for i in range(width):
        total = total + jnp.pad(d[:, :, i], ((0, 0), (i, width - 1 - i)))
    return total[:, pad : pad + S]


def location_term(F: jax.Array, U: jax.Array, a_prev: jax.Array) -> jax.Array:
    """U (F * a_prev): F [k, 1, width], U [H, k], a_prev [B, S] -> [B, S, H]."""
    f = windows(a_prev, F.shape[-1]) @ F[:, 0, :].T  # B x S x k
    return f @ U.T


def energy(keys: jax.Array, query: jax.Array, W_s: jax.Array, loc=None) -> jax.Array:
    """tanh(keys + W_s query [+ loc]): keys [B, S, H], query [B, H], W_s [H, H], the location
    term loc [B, S, H] or None (bahdanau) -> [B, S, H]."""
    pre = keys + (query @ W_s.T)[:, None, :]
    return jnp.tanh(pre if loc is None else pre + loc)


def scores(e: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
    """v . e per position [B, S] (v [1, H]), MASKED_SCORE where mask [B, S] is False."""
    return jnp.where(mask, e @ v[0], MASKED_SCORE)


def weights(
    p: dict, keys: jax.Array, mask: jax.Array, query: jax.Array, a_prev: jax.Array | None = None
) -> jax.Array:
    """Softmax over source positions [B, S] for decoder state query [B, H]; mask True = real.
    a_prev [B, S], the previous step's weights, for location attention (None: bahdanau)."""
    loc = None if a_prev is None else location_term(p["F"]["weight"], p["U"]["weight"], a_prev)
    e = energy(keys, query, p["W_s"]["weight"], loc)  # B x S x H
    return jax.nn.softmax(scores(e, p["v"]["weight"], mask), axis=-1)


def attend(p: dict, keys, enc, mask, query, a_prev=None):
    """Context [B, H] (the weighted sum of encoder outputs enc [B, S, H]) and weights [B, S]."""
    w = weights(p, keys, mask, query, a_prev)
    return jnp.einsum("bs,bsh->bh", w, enc), w
