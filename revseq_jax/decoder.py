"""The decoder loop over T steps with a hand-written backward pass.

Autodiff of lax.scan accumulates every weight gradient inside the reverse loop, one small
matmul or a [B, S, 3H] outer product per step, and stores a residual per intermediate: on a
CPU that is hundreds of tiny ops per step. Here the reverse loop carries only the state
gradients and emits per-step factors; each weight gradient is then one large matmul after it.
The function computed is model.decoder_step's, step for step (tests check both, with and
without dropout).

Dropout comes in as masks drawn outside (inverted: 0 or 1 / (1 - rate)), so the loop is
deterministic and its backward pass only multiplies by the same masks.

Shapes: T steps, L layers, B batch, S source, H hidden, G = 3H gates, E embedding, V vocabulary.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from revseq_jax.attention import MASKED_SCORE
from revseq_jax.unroll import scan_unroll


class Masks(NamedTuple):
    """Dropout masks of a training forward pass: on the embedding read at each step, and on
    the input of every GRU layer above the first."""

    emb: jax.Array  # T x B x E
    layers: jax.Array  # T x (L-1) x B x H


def _gates(xp, hp, h):
    """GRU gates (PyTorch form) from projected input xp and projected state hp [B, G]."""
    H = h.shape[-1]
    r = jax.nn.sigmoid(xp[:, :H] + hp[:, :H])
    z = jax.nn.sigmoid(xp[:, H : 2 * H] + hp[:, H : 2 * H])
    n = jnp.tanh(xp[:, 2 * H :] + r * hp[:, 2 * H :])
    return r, z, n


def _input0(w, tokens, y, drop_emb):
    """Layer 0's projected token input [B, G]: a row of the token table, or without it
    (dropout) the dropped-out embedding times W_ie plus the bias."""
    if drop_emb is None:
        return tokens[y]
    return (tokens[y] * drop_emb) @ w["W_ie"].T + w["b_ih0"][None, :]


def _forward(w, keys, enc, tokens, mask, h0, tgt_in, force, masks):
    """Run the loop; returns (logits [T, B, V], attention [T, B, S]) and the residuals."""
    L = h0.shape[0]

    def step(carry, xs):
        h, pred = carry
        tok, forced, drop = xs
        y = jnp.where(forced, tok, pred)
        q = h[-1] @ w["W_s"].T  # B x H
        e = jnp.tanh(keys + q[:, None, :])  # B x S x H
        scores = jnp.where(mask, e @ w["v"][0], MASKED_SCORE)  # B x S
        a = jax.nn.softmax(scores, axis=-1)
        xp = _input0(w, tokens, y, None if drop is None else drop.emb)
        ctx = jnp.einsum("bs,bsh->bh", a, enc)  # B x H
        xp = xp + ctx @ w["W_ic"].T
        xps, hps, new = [], [], []
        for k in range(L):
            if k > 0:
                x = new[-1] if drop is None else new[-1] * drop.layers[k - 1]
                xp = x @ w[f"weight_ih_l{k}"].T + w[f"bias_ih_l{k}"][None, :]
            hp = h[k] @ w[f"weight_hh_l{k}"].T + w[f"bias_hh_l{k}"][None, :]
            _, z, n = _gates(xp, hp, h[k])
            new.append((1.0 - z) * n + z * h[k])
            xps.append(xp)
            hps.append(hp)
        h_new = jnp.stack(new)
        logits = h_new[-1] @ w["fc_w"].T + w["fc_b"][None, :]
        pred = jnp.argmax(logits, axis=-1).astype(tok.dtype)
        res = (h, h_new, y, ctx, jnp.stack(xps), jnp.stack(hps))
        return (h_new, pred), (logits, a, res)

    xs = (tgt_in.T, force.T, masks)
    _, (logits, a, res) = lax.scan(step, (h0, tgt_in[:, 0]), xs, unroll=scan_unroll())
    return (logits, a), res


@jax.custom_vjp
def unroll(w, keys, enc, tokens, mask, h0, tgt_in, force, masks):
    """Logits [T, B, V] and attention [T, B, S] of T decoder steps.

    w: {"W_s" [H, H], "v" [1, H], "fc_w" [V, H], "fc_b" [V], "W_ic" [G, H] (layer 0's input
    weight on the context), per layer k the GRU's
    weight_hh_l{k}, bias_hh_l{k} and, for k > 0, weight_ih_l{k}, bias_ih_l{k}; with masks also
    "W_ie" [G, E] and "b_ih0" [G], layer 0's input weight on the embedding and its bias}.
    keys [B, S, H] = W_h enc; enc [B, S, H] the encoder outputs; mask [B, S]; h0 [L, B, H];
    tgt_in, force [B, T] as in model.forward. tokens: without masks the table [V, G] of
    W_ie emb + b_ih0; with masks (dropout) the embedding table [V, E] itself.
    """
    return _forward(w, keys, enc, tokens, mask, h0, tgt_in, force, masks)[0]


def _unroll_fwd(w, keys, enc, tokens, mask, h0, tgt_in, force, masks):
    out, res = _forward(w, keys, enc, tokens, mask, h0, tgt_in, force, masks)
    return out, (w, keys, enc, tokens, mask, masks, out[1], res)


def _unroll_bwd(saved, cotangents):
    w, keys, enc, tokens, mask, masks, A, (Hprev, Hnew, Y, CTX, XP, HP) = saved
    dlogits, dA_ext = cotangents  # T x B x V, T x B x S
    L = Hprev.shape[1]
    dtop = dlogits @ w["fc_w"]  # T x B x H: every step's logits, in one matmul

    def step(carry, xs):
        dh, dkeys = carry  # L x B x H (from later steps), B x S x H
        h, a, xp, hp, dt, da_ext, drop = xs
        dh_prev, dxps, dhps = [None] * L, [None] * L, [None] * L
        d_out = dh[L - 1] + dt
        for k in reversed(range(L)):
            r, z, n = _gates(xp[k], hp[k], h[k])
            H = n.shape[-1]
            dn = d_out * (1.0 - z)
            dpn = dn * (1.0 - n * n)
            dpr = dpn * hp[k][:, 2 * H :] * r * (1.0 - r)
            dpz = d_out * (h[k] - n) * z * (1.0 - z)
            dxps[k] = jnp.concatenate([dpr, dpz, dpn], axis=-1)
            dhps[k] = jnp.concatenate([dpr, dpz, dpn * r], axis=-1)
            dh_prev[k] = d_out * z + dhps[k] @ w[f"weight_hh_l{k}"]
            if k > 0:  # layer k read layer k-1's new state (through its dropout mask)
                dx = dxps[k] @ w[f"weight_ih_l{k}"]
                d_out = dh[k - 1] + (dx if drop is None else dx * drop.layers[k - 1])
        # attention: layer 0 read its token input + W_ic sum_s a_s enc_s
        dctx = dxps[0] @ w["W_ic"]  # B x H
        da = jnp.einsum("bh,bsh->bs", dctx, enc) + da_ext
        dscores = jnp.where(mask, a * (da - (a * da).sum(-1, keepdims=True)), 0.0)
        q = h[L - 1] @ w["W_s"].T
        e = jnp.tanh(keys + q[:, None, :])  # recomputed: cheaper than storing T x B x S x H
        dpre = dscores[..., None] * w["v"][None] * (1.0 - e * e)  # B x S x H
        dv = jnp.einsum("bs,bsh->h", dscores, e)
        dq = dpre.sum(axis=1)
        dh_prev[L - 1] = dh_prev[L - 1] + dq @ w["W_s"]
        return (jnp.stack(dh_prev), dkeys + dpre), (jnp.stack(dxps), jnp.stack(dhps), dq, dv, dctx)

    zeros = (jnp.zeros_like(Hprev[0]), jnp.zeros_like(keys))
    xs = (Hprev, A, XP, HP, dtop, dA_ext, masks)
    n = scan_unroll()
    (dh0, dkeys), (DXP, DHP, DQ, DV, DCTX) = lax.scan(step, zeros, xs, reverse=True, unroll=n)

    def outer(dy, x):  # sum over steps and rows of dy^T x: one matmul
        return jnp.einsum("tbg,tbh->gh", dy, x)

    dw = {
        "W_s": outer(DQ, Hprev[:, L - 1]),
        "v": DV.sum(0)[None, :],
        "fc_w": outer(dlogits, Hnew[:, L - 1]),
        "fc_b": dlogits.sum((0, 1)),
    }
    for k in range(L):
        dw[f"weight_hh_l{k}"] = outer(DHP[:, k], Hprev[:, k])
        dw[f"bias_hh_l{k}"] = DHP[:, k].sum((0, 1))
        if k > 0:
            x = Hnew[:, k - 1] if masks is None else Hnew[:, k - 1] * masks.layers[:, k - 1]
            dw[f"weight_ih_l{k}"] = outer(DXP[:, k], x)
            dw[f"bias_ih_l{k}"] = DXP[:, k].sum((0, 1))
    one_hot = jax.nn.one_hot(Y, tokens.shape[0], dtype=DXP.dtype)  # T x B x V
    if masks is None:
        dtokens = jnp.einsum("tbv,tbg->vg", one_hot, DXP[:, 0])
    else:
        dw["W_ie"] = outer(DXP[:, 0], tokens[Y] * masks.emb)
        dw["b_ih0"] = DXP[:, 0].sum((0, 1))
        dtokens = jnp.einsum("tbv,tbe->ve", one_hot, (DXP[:, 0] @ w["W_ie"]) * masks.emb)
    dw["W_ic"] = outer(DXP[:, 0], CTX)
    denc = jnp.einsum("tbs,tbh->bsh", A, DCTX)
    return dw, dkeys, denc, dtokens, None, dh0, None, None, None


unroll.defvjp(_unroll_fwd, _unroll_bwd)
