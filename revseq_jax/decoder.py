"""The decoder loop over T steps with a hand-written backward pass.

Autodiff of lax.scan accumulates every weight gradient inside the reverse loop, one small
matmul or a [B, S, 3H] outer product per step, and stores a residual per intermediate: on a
CPU that is hundreds of tiny ops per step. Here the reverse loop carries only the state
gradients and emits per-step factors; each weight gradient is then one large matmul after it.
The function computed is model.decoder_step's, step for step (tests check values and gradients
against autodiff of a plain scan of decoder_step, for 1, 2 and 3 layers, with and without
dropout, in float64).

Dropout comes in as masks drawn outside (inverted: 0 or 1 / (1 - rate)), so the loop is
deterministic and its backward pass only multiplies by the same masks.

loop is a jax.custom_vjp: it has reverse mode only. jax.grad and jax.vjp work; jax.jvp,
jax.jacfwd and anything else in forward mode raise a TypeError (so do they through
model.forward, which runs this loop).

Shapes: T steps, L layers, B batch, S source, H hidden, G = 3H gates, E embedding, V vocabulary.

One step, forward equation and (below it) its adjoint. s = h_{L-1} is the top layer's state
before the step, y the token the step reads, h'_k layer k's new state; * is elementwise, A^T B
of two [B, X] factors sums over the batch rows (and, after the loop, over the T steps); dX is
the gradient of the loss with respect to X, dpX that of X's pre-activation (the argument of
its tanh or sigmoid). A reader checks each adjoint against the line above it; in the code each
line carries the number of the equation it computes or differentiates.

 (1) q = W_s s                                    query [B, H]
     ds += dq W_s;   dW_s = dq^T s
(1a) f = F * a_prev                               location features [B, S, k] (location only)
     f_j = sum_i F_i a_prev[j + i - width//2]: windows(a_prev) [B, S, width] times F^T
     dF = sum_{b,j} df_j windows_j^T;   da_prev = windows^T(df F)  (each window entry back to
     the position it read); a_prev is the last step's a (4), or the prior at step 0
(1b) l = U f                                      location term [B, S, H] (location only)
     df = dl U;   dU = sum_{b,j} dl_j^T f_j
     (dF [k, width] and dU [H, k] are summed over rows inside the reverse loop, then over
     steps after it: emitting dl itself would store T x B x S x H)
 (2) e = tanh(keys + q [+ l])                     energy [B, S, H]
     dpre = de * (1 - e^2) (of keys + q + l);   dkeys += dpre;   dq = sum_s dpre_s;   dl = dpre
 (3) score = e v (MASKED_SCORE where mask is False)   scores [B, S]
     de = dscore v;   dv = sum_s dscore_s e_s;   dscore = 0 where masked (a constant there)
 (4) a = softmax(score)                           attention [B, S]
     dscore = a * (da - sum_s a_s da_s);   with location attention da also gets the next
     step's da_prev (1a)
 (5) ctx = sum_s a_s enc_s                        context [B, H]
     da_s = dctx . enc_s (+ the caller's cotangent of a);   denc_s += a_s dctx
 (6) xp_0 = gate_table[y] + W_ic ctx              layer 0's projected input [B, G]
     dctx = dxp_0 W_ic;   dW_ic = dxp_0^T ctx;   dgate_table[y] += dxp_0
     with dropout: xp_0 = W_ie (embedding[y] * m_emb) + b_ih0 + W_ic ctx
     dW_ie = dxp_0^T (embedding[y] * m_emb);   db_ih0 = sum dxp_0;
     dembedding[y] += (dxp_0 W_ie) * m_emb
 (7) xp_k = W_ih_k (h'_{k-1} * m_k) + b_ih_k      layer k > 0's projected input [B, G]
     dh'_{k-1} += (dxp_k W_ih_k) * m_k;   dW_ih_k = dxp_k^T (h'_{k-1} * m_k);   db_ih_k = sum dxp_k
 (8) hp_k = W_hh_k h_k + b_hh_k                   projected state [B, G]
     dh_k += dhp_k W_hh_k;   dW_hh_k = dhp_k^T h_k;   db_hh_k = sum dhp_k
     (xp = [xp_r | xp_z | xp_n] and hp = [hp_r | hp_z | hp_n], each [B, H])
 (9) r = sigmoid(xp_r + hp_r)
     dpr = dr * r * (1 - r);   dxp_r = dhp_r = dpr
(10) z = sigmoid(xp_z + hp_z)
     dpz = dz * z * (1 - z);   dxp_z = dhp_z = dpz
(11) n = tanh(xp_n + r * hp_n)
     dpn = dn * (1 - n^2);   dxp_n = dpn;   dhp_n = dpn * r;   dr = dpn * hp_n
(12) h'_k = (1 - z) * n + z * h_k                 new state [B, H]
     dn = dh'_k * (1 - z);   dz = dh'_k * (h_k - n);   dh_k += dh'_k * z
(13) logits = fc_w h'_{L-1} + fc_b                [B, V]
     dh'_{L-1} += dlogits fc_w;   dfc_w = dlogits^T h'_{L-1};   dfc_b = sum dlogits

h'_k is also the next step's h_k, so dh'_k starts as the next step's dh_k: the reverse scan
carries dh [L, B, H] (and dkeys, summed over steps); with location attention, a is also the
next step's a_prev, so it carries da_prev [B, S] too, and its last value is the gradient of
the prior.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from revseq_jax import attention


class Masks(NamedTuple):
    """Dropout masks of a training forward pass: on the embedding read at each step, and on
    the input of every GRU layer above the first."""

    emb: jax.Array  # m_emb: T x B x E
    layers: jax.Array  # m_k for k = 1 .. L-1: T x (L-1) x B x H


class Residuals(NamedTuple):
    """What the backward pass reads of the forward one, per step (stacked: T first)."""

    h: jax.Array  # the states a step starts from, h_k: T x L x B x H
    h_new: jax.Array  # its new states h'_k: T x L x B x H
    y: jax.Array  # the token it read: T x B
    ctx: jax.Array  # (5) context: T x B x H
    xp: jax.Array  # (6), (7) projected inputs xp_k: T x L x B x G
    hp: jax.Array  # (8) projected states hp_k: T x L x B x G


def _gates(xp, hp, h):
    """GRU gates r, z, n [B, H] (PyTorch form), equations (9)-(11), from xp, hp [B, G]."""
    H = h.shape[-1]
    r = jax.nn.sigmoid(xp[:, :H] + hp[:, :H])  # (9)
    z = jax.nn.sigmoid(xp[:, H : 2 * H] + hp[:, H : 2 * H])  # (10)
    n = jnp.tanh(xp[:, 2 * H :] + r * hp[:, 2 * H :])  # (11)
    return r, z, n


def _input0(w, gate_table, embedding, y, drop_emb):
    """Layer 0's projected token input [B, G], the token's share of (6): a row of gate_table,
    or with dropout the dropped-out embedding row times W_ie plus the bias."""
    if drop_emb is None:
        return gate_table[y]
    return (embedding[y] * drop_emb) @ w["W_ie"].T + w["b_ih0"][None, :]


def _check_token_inputs(gate_table, embedding, masks):
    """Exactly one token input: gate_table without dropout, embedding with dropout masks."""
    if (gate_table is None) != (masks is not None) or (embedding is None) != (masks is None):
        raise ValueError("pass gate_table without masks, or embedding with masks (not both)")


def _location(w, a_prev):
    """(1a), (1b): the location term U (F * a_prev) [B, S, H]; None without a_prev (bahdanau)."""
    return None if a_prev is None else attention.location_term(w["F"], w["U"], a_prev)


def _forward(unroll, w, keys, enc, mask, h0, a0, tgt_in, force, gate_table, embedding, masks):
    """Run the loop; returns (logits [T, B, V], attention [T, B, S]) and the Residuals."""
    _check_token_inputs(gate_table, embedding, masks)
    L = h0.shape[0]

    def step(carry, xs):
        h, pred, a_prev = carry  # a_prev: None for bahdanau
        tok, forced, drop = xs
        y = jnp.where(forced, tok, pred)
        e = attention.energy(keys, h[-1], w["W_s"], _location(w, a_prev))  # (1), (2) B x S x H
        a = jax.nn.softmax(attention.scores(e, w["v"], mask), axis=-1)  # (3), (4) B x S
        xp = _input0(w, gate_table, embedding, y, None if drop is None else drop.emb)  # (6)
        ctx = jnp.einsum("bs,bsh->bh", a, enc)  # (5) B x H
        xp = xp + ctx @ w["W_ic"].T  # (6)
        xps, hps, new = [], [], []
        for k in range(L):
            if k > 0:
                x = new[-1] if drop is None else new[-1] * drop.layers[k - 1]
                xp = x @ w[f"weight_ih_l{k}"].T + w[f"bias_ih_l{k}"][None, :]  # (7)
            hp = h[k] @ w[f"weight_hh_l{k}"].T + w[f"bias_hh_l{k}"][None, :]  # (8)
            _, z, n = _gates(xp, hp, h[k])  # (9)-(11)
            new.append((1.0 - z) * n + z * h[k])  # (12)
            xps.append(xp)
            hps.append(hp)
        h_new = jnp.stack(new)
        logits = h_new[-1] @ w["fc_w"].T + w["fc_b"][None, :]  # (13)
        pred = jnp.argmax(logits, axis=-1).astype(tok.dtype)
        res = Residuals(h, h_new, y, ctx, jnp.stack(xps), jnp.stack(hps))
        return (h_new, pred, None if a_prev is None else a), (logits, a, res)

    xs = (tgt_in.T, force.T, masks)
    _, (logits, a, res) = lax.scan(step, (h0, tgt_in[:, 0], a0), xs, unroll=unroll)
    return (logits, a), res


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def loop(unroll, w, keys, enc, mask, h0, a0, tgt_in, force, gate_table, embedding, masks):
    """Logits [T, B, V] and attention [T, B, S] of T decoder steps; reverse-mode only.

    unroll: time steps per lax.scan body (ModelConfig.scan_unroll; static).
    w: {"W_s" [H, H], "v" [1, H], "fc_w" [V, H], "fc_b" [V], "W_ic" [G, H] (layer 0's input
    weight on the context), per layer k the GRU's weight_hh_l{k}, bias_hh_l{k} and, for k > 0,
    weight_ih_l{k}, bias_ih_l{k}; with dropout also "W_ie" [G, E] and "b_ih0" [G], layer 0's
    input weight on the embedding and its bias; with location attention also "F" [k, 1, width]
    and "U" [H, k]}. keys [B, S, H] = W_h enc; enc [B, S, H] the encoder outputs; mask [B, S];
    h0 [L, B, H]; a0 [B, S] the first step's previous attention weights (location attention;
    None for bahdanau); tgt_in, force [B, T] as in model.forward.
    The token input is one of two, the other None:
      gate_table [V, G] = W_ie embedding + b_ih0, without dropout (masks None);
      embedding [V, E], with dropout masks (the dropout falls between it and W_ie).
    A custom_vjp: jax.jvp and jax.jacfwd through it raise a TypeError.
    """
    args = (w, keys, enc, mask, h0, a0, tgt_in, force, gate_table, embedding, masks)
    return _forward(unroll, *args)[0]


def _loop_fwd(unroll, w, keys, enc, mask, h0, a0, tgt_in, force, gate_table, embedding, masks):
    args = (w, keys, enc, mask, h0, a0, tgt_in, force, gate_table, embedding, masks)
    out, res = _forward(unroll, *args)
    return out, (w, keys, enc, mask, a0, gate_table, embedding, masks, out[1], res)


def _location_adjoint(w, a_prev, dl):
    """(1b), (1a) backwards: dl [B, S, H] -> (da_prev [B, S], dF [k, width], dU [H, k])."""
    F = w["F"][:, 0, :]  # k x width
    win = attention.windows(a_prev, F.shape[-1])  # B x S x width
    f = win @ F.T  # (1a) recomputed: B x S x k
    df = dl @ w["U"]  # (1b)
    dU = jnp.einsum("bsh,bsk->hk", dl, f)  # (1b)
    dF = jnp.einsum("bsk,bsw->kw", df, win)  # (1a)
    return attention.windows_transpose(df @ F), dF, dU  # (1a)


def _loop_bwd(unroll, saved, cotangents):
    w, keys, enc, mask, a0, gate_table, embedding, masks, A, res = saved
    Hprev, Hnew, Y, CTX, XP, HP = res  # T first: h, h', y, ctx, xp, hp of every step
    dlogits, dA_ext = cotangents  # T x B x V, T x B x S
    L = Hprev.shape[1]
    dtop = dlogits @ w["fc_w"]  # (13) dh'_{L-1} from every step's logits, in one matmul: T x B x H

    def step(carry, xs):
        dh, dkeys, da_next = carry  # dh'_k of this step = dh_k of the next: L x B x H; B x S x H
        h, a, a_prev, xp, hp, dt, da_ext, drop = xs  # da_next, a_prev: None for bahdanau
        dh_prev, dxps, dhps = [None] * L, [None] * L, [None] * L
        dh_new = dh[L - 1] + dt  # (13) dh'_{L-1}
        for k in reversed(range(L)):
            r, z, n = _gates(xp[k], hp[k], h[k])  # (9)-(11) recomputed from the residuals
            H = n.shape[-1]
            dn = dh_new * (1.0 - z)  # (12)
            dpn = dn * (1.0 - n * n)  # (11)
            dpr = dpn * hp[k][:, 2 * H :] * r * (1.0 - r)  # (11) dr = dpn * hp_n, then (9)
            dpz = dh_new * (h[k] - n) * z * (1.0 - z)  # (12) dz, then (10)
            dxps[k] = jnp.concatenate([dpr, dpz, dpn], axis=-1)  # (9)-(11) dxp_k
            dhps[k] = jnp.concatenate([dpr, dpz, dpn * r], axis=-1)  # (9)-(11) dhp_k
            dh_prev[k] = dh_new * z + dhps[k] @ w[f"weight_hh_l{k}"]  # (12), (8) dh_k
            if k > 0:  # (7) layer k read layer k-1's new state (through its dropout mask)
                dx = dxps[k] @ w[f"weight_ih_l{k}"]
                dh_new = dh[k - 1] + (dx if drop is None else dx * drop.layers[k - 1])
        dctx = dxps[0] @ w["W_ic"]  # (6) B x H
        da = jnp.einsum("bh,bsh->bs", dctx, enc) + da_ext  # (5)
        if da_next is not None:
            da = da + da_next  # (4) a is the next step's a_prev (1a)
        dscore = jnp.where(mask, a * (da - (a * da).sum(-1, keepdims=True)), 0.0)  # (4), (3)
        # (1), (2) recomputed: cheaper than storing T x B x S x H
        e = attention.energy(keys, h[L - 1], w["W_s"], _location(w, a_prev))
        dpre = dscore[..., None] * w["v"][None] * (1.0 - e * e)  # (3) de, then (2): B x S x H
        dv = jnp.einsum("bs,bsh->h", dscore, e)  # (3)
        dq = dpre.sum(axis=1)  # (2)
        dh_prev[L - 1] = dh_prev[L - 1] + dq @ w["W_s"]  # (1) ds
        loc = None if a_prev is None else _location_adjoint(w, a_prev, dpre)  # (1b), (1a)
        da_prev, dloc = (None, None) if loc is None else (loc[0], loc[1:])
        carry = (jnp.stack(dh_prev), dkeys + dpre, da_prev)
        return carry, (jnp.stack(dxps), jnp.stack(dhps), dq, dv, dctx, dloc)

    # Step t's previous weights: the prior, then step t-1's attention (location only).
    A_prev = None if a0 is None else jnp.concatenate([a0[None], A[:-1]])
    da_last = None if a0 is None else jnp.zeros_like(a0)  # nothing reads the last step's a
    zeros = (jnp.zeros_like(Hprev[0]), jnp.zeros_like(keys), da_last)
    xs = (Hprev, A, A_prev, XP, HP, dtop, dA_ext, masks)
    (dh0, dkeys, da0), (DXP, DHP, DQ, DV, DCTX, DLOC) = lax.scan(
        step, zeros, xs, reverse=True, unroll=unroll
    )

    def outer(dy, x):  # dy^T x summed over steps and rows: one matmul
        return jnp.einsum("tbg,tbh->gh", dy, x)

    dw = {
        "W_s": outer(DQ, Hprev[:, L - 1]),  # (1)
        "v": DV.sum(0)[None, :],  # (3)
        "fc_w": outer(dlogits, Hnew[:, L - 1]),  # (13)
        "fc_b": dlogits.sum((0, 1)),  # (13)
    }
    if DLOC is not None:
        dw["F"] = DLOC[0].sum(0)[:, None, :]  # (1a)
        dw["U"] = DLOC[1].sum(0)  # (1b)
    for k in range(L):
        dw[f"weight_hh_l{k}"] = outer(DHP[:, k], Hprev[:, k])  # (8)
        dw[f"bias_hh_l{k}"] = DHP[:, k].sum((0, 1))  # (8)
        if k > 0:
            x = Hnew[:, k - 1] if masks is None else Hnew[:, k - 1] * masks.layers[:, k - 1]
            dw[f"weight_ih_l{k}"] = outer(DXP[:, k], x)  # (7)
            dw[f"bias_ih_l{k}"] = DXP[:, k].sum((0, 1))  # (7)
    V = (gate_table if masks is None else embedding).shape[0]
    one_hot = jax.nn.one_hot(Y, V, dtype=DXP.dtype)  # T x B x V: the scatter into row y
    dgate_table = dembedding = None
    if masks is None:
        dgate_table = jnp.einsum("tbv,tbg->vg", one_hot, DXP[:, 0])  # (6)
    else:
        dw["W_ie"] = outer(DXP[:, 0], embedding[Y] * masks.emb)  # (6)
        dw["b_ih0"] = DXP[:, 0].sum((0, 1))  # (6)
        dembedding = jnp.einsum("tbv,tbe->ve", one_hot, (DXP[:, 0] @ w["W_ie"]) * masks.emb)  # (6)
    dw["W_ic"] = outer(DXP[:, 0], CTX)  # (6)
    denc = jnp.einsum("tbs,tbh->bsh", A, DCTX)  # (5)
    return dw, dkeys, denc, None, dh0, da0, None, None, dgate_table, dembedding, None


loop.defvjp(_loop_fwd, _loop_bwd)
