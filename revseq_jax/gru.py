"""Multi-layer GRU in PyTorch's gate form (r|z|n stacked), over lax.scan, padding-aware."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

Params = dict  # {"weight_ih_l0": [3H, in], "weight_hh_l0": [3H, H], "bias_ih_l0": [3H], ...}


def dropout(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
    """Inverted dropout; the identity when key is None or rate is 0 (evaluation)."""
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


def num_layers(p: Params) -> int:
    """How many layers a GRU parameter dict holds."""
    return sum(1 for k in p if k.startswith("weight_ih_l"))


def affine(x: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
    """x W^T + b for any leading shape: [..., in] -> [..., out]."""
    y = x @ w.T
    return y + b.reshape((1,) * (y.ndim - 1) + (-1,))  # explicit broadcast


def input_proj(p: Params, k: int, x: jax.Array) -> jax.Array:
    """W_ih x + b_ih of layer k for any leading shape: [..., in] -> [..., 3H]."""
    return affine(x, p[f"weight_ih_l{k}"], p[f"bias_ih_l{k}"])


def hidden_proj(p: Params, k: int, h: jax.Array) -> jax.Array:
    """W_hh h + b_hh of layer k for any leading shape: [..., H] -> [..., 3H]."""
    return affine(h, p[f"weight_hh_l{k}"], p[f"bias_hh_l{k}"])


def gates(xp: jax.Array, hp: jax.Array) -> tuple:
    """The gates r, z, n [..., H] from the projected input xp and state hp [..., 3H]
    (revseq_jax.decoder's equations (9)-(11))."""
    xr, xz, xn = jnp.split(xp, 3, axis=-1)
    hr, hz, hn = jnp.split(hp, 3, axis=-1)
    r = jax.nn.sigmoid(xr + hr)
    z = jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    return r, z, n


def update(xp: jax.Array, hp: jax.Array, h: jax.Array) -> jax.Array:
    """The new state h' = (1 - z) * n + z * h [B, H] from the projected input xp and state hp
    [B, 3H] (revseq_jax.decoder's equation (12)): the one GRU update, which `cell` and the
    decoder step run."""
    _, z, n = gates(xp, hp)
    return (1.0 - z) * n + z * h


def cell(p: Params, k: int, xp: jax.Array, h: jax.Array) -> jax.Array:
    """One step of layer k from its projected input xp [B, 3H] and state h [B, H] -> the new
    state [B, H]. (The decoder step calls hidden_proj and update itself: its backward pass
    keeps hp.)"""
    return update(xp, hidden_proj(p, k, h), h)


def layer(
    p: Params, k: int, x: jax.Array, mask: jax.Array, h0: jax.Array, unroll: int = 1
) -> tuple:
    """Run layer k over x [B, S, in]; where mask [B, S] is False the state is carried unchanged.
    unroll: time steps per lax.scan body (ModelConfig.scan_unroll).

    Returns outputs [B, S, H] (zero at masked steps) and the last state [B, H].
    """
    xp = input_proj(p, k, x)  # one matmul for all steps: B x S x 3H

    def step(h, inputs):
        xp_t, m_t = inputs  # B x 3H, B
        h_new = cell(p, k, xp_t, h)
        h = jnp.where(m_t[:, None], h_new, h)
        return h, jnp.where(m_t[:, None], h_new, 0.0)

    h, ys = lax.scan(step, h0, (xp.swapaxes(0, 1), mask.T), unroll=unroll)
    return ys.swapaxes(0, 1), h


def gru(
    p: Params,
    x: jax.Array,
    mask: jax.Array,
    h0: jax.Array | None = None,
    rate: float = 0.0,
    key: jax.Array | None = None,
    unroll: int = 1,
) -> tuple:
    """Stacked GRU over x [B, S, in] -> outputs [B, S, H], final states [L, B, H].

    Dropout (rate, key) applies between layers, as nn.GRU(dropout=rate) does.
    """
    L = num_layers(p)
    B, H = x.shape[0], p["weight_hh_l0"].shape[1]
    if h0 is None:
        h0 = jnp.zeros((L, B, H), x.dtype)
    finals = []
    for k in range(L):
        if k > 0:
            x = dropout(x, rate, None if key is None else jax.random.fold_in(key, k))
        x, h = layer(p, k, x, mask, h0[k], unroll)
        finals.append(h)
    return x, jnp.stack(finals)
