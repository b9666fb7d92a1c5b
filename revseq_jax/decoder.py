"""The decoder loop over T steps with a hand-written backward pass (used without dropout).

Autodiff of lax.scan accumulates every weight gradient inside the reverse loop, one small
matmul or a [B, S, 3H] outer product per step, and stores a residual per intermediate: on a
CPU that is hundreds of tiny ops per step. Here the reverse loop carries only the state
gradients and emits per-step factors; each weight gradient is then one large matmul after it.
The function computed is model.decoder_step's, step for step (parity_tests check both).

Shapes: T steps, L layers, B batch, S source, H hidden, G = 3H gates, V vocabulary.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from revseq_jax.attention import MASKED_SCORE


def _gates(xp, hp, h):
    """GRU gates (PyTorch form) from projected input xp and projected state hp [B, G]."""
    H = h.shape[-1]
    r = jax.nn.sigmoid(xp[:, :H] + hp[:, :H])
    z = jax.nn.sigmoid(xp[:, H : 2 * H] + hp[:, H : 2 * H])
    n = jnp.tanh(xp[:, 2 * H :] + r * hp[:, 2 * H :])
    return r, z, n


def _forward(w, keys, values, tokens, mask, h0, tgt_in, force):
    """Run the loop; returns (logits [T, B, V], attention [T, B, S]) and the residuals."""
    L = h0.shape[0]

    def step(carry, xs):
        h, pred = carry
        tok, forced = xs
        y = jnp.where(forced, tok, pred)
        q = h[-1] @ w["W_s"].T  # B x H
        e = jnp.tanh(keys + q[:, None, :])  # B x S x H
        scores = jnp.where(mask, e @ w["v"][0], MASKED_SCORE)  # B x S
        a = jax.nn.softmax(scores, axis=-1)
        xp = tokens[y] + jnp.einsum("bs,bsg->bg", a, values)  # layer 0's gates input: B x G
        xps, hps, new = [], [], []
        for k in range(L):
            if k > 0:
                xp = new[-1] @ w[f"weight_ih_l{k}"].T + w[f"bias_ih_l{k}"]
            hp = h[k] @ w[f"weight_hh_l{k}"].T + w[f"bias_hh_l{k}"]
            _, z, n = _gates(xp, hp, h[k])
            new.append((1.0 - z) * n + z * h[k])
            xps.append(xp)
            hps.append(hp)
        h_new = jnp.stack(new)
        logits = h_new[-1] @ w["fc_w"].T + w["fc_b"]
        pred = jnp.argmax(logits, axis=-1).astype(tok.dtype)
        return (h_new, pred), (logits, a, (h, h_new, y, jnp.stack(xps), jnp.stack(hps)))

    _, (logits, a, res) = lax.scan(step, (h0, tgt_in[:, 0]), (tgt_in.T, force.T))
    return (logits, a), res


@jax.custom_vjp
def unroll(w, keys, values, tokens, mask, h0, tgt_in, force):
    """Logits [T, B, V] and attention [T, B, S] of T decoder steps.

    w: {"W_s" [H, H], "v" [1, H], "fc_w" [V, H], "fc_b" [V], and per layer k the GRU's
    weight_hh_l{k}, bias_hh_l{k} and, for k > 0, weight_ih_l{k}, bias_ih_l{k}}.
    keys [B, S, H] = W_h enc; values [B, S, G] = W_ic enc; tokens [V, G] = W_ie emb + b_ih0;
    mask [B, S]; h0 [L, B, H]; tgt_in, force [B, T] as in model.forward.
    """
    return _forward(w, keys, values, tokens, mask, h0, tgt_in, force)[0]


def _unroll_fwd(w, keys, values, tokens, mask, h0, tgt_in, force):
    out, res = _forward(w, keys, values, tokens, mask, h0, tgt_in, force)
    return out, (w, keys, values, tokens, mask, out[1], res)


def _unroll_bwd(saved, cotangents):
    w, keys, values, tokens, mask, A, (Hprev, Hnew, Y, XP, HP) = saved
    dlogits, dA_ext = cotangents  # T x B x V, T x B x S
    L = Hprev.shape[1]
    dtop = dlogits @ w["fc_w"]  # T x B x H: every step's logits, in one matmul

    def step(carry, xs):
        dh, dkeys = carry  # L x B x H (from later steps), B x S x H
        h, a, xp, hp, dt, da_ext = xs
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
            if k > 0:  # layer k read layer k-1's new state
                d_out = dh[k - 1] + dxps[k] @ w[f"weight_ih_l{k}"]
        # attention: layer 0 read tokens[y] + sum_s a_s values_s
        da = jnp.einsum("bg,bsg->bs", dxps[0], values) + da_ext
        dscores = jnp.where(mask, a * (da - (a * da).sum(-1, keepdims=True)), 0.0)
        q = h[L - 1] @ w["W_s"].T
        e = jnp.tanh(keys + q[:, None, :])  # recomputed: cheaper than storing T x B x S x H
        dpre = dscores[..., None] * w["v"][0] * (1.0 - e * e)  # B x S x H
        dv = jnp.einsum("bs,bsh->h", dscores, e)
        dq = dpre.sum(axis=1)
        dh_prev[L - 1] = dh_prev[L - 1] + dq @ w["W_s"]
        return (jnp.stack(dh_prev), dkeys + dpre), (jnp.stack(dxps), jnp.stack(dhps), dq, dv)

    zeros = (jnp.zeros_like(Hprev[0]), jnp.zeros_like(keys))
    xs = (Hprev, A, XP, HP, dtop, dA_ext)
    (dh0, dkeys), (DXP, DHP, DQ, DV) = lax.scan(step, zeros, xs, reverse=True)

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
            dw[f"weight_ih_l{k}"] = outer(DXP[:, k], Hnew[:, k - 1])
            dw[f"bias_ih_l{k}"] = DXP[:, k].sum((0, 1))
    V = tokens.shape[0]
    dtokens = jnp.einsum("tbv,tbg->vg", jax.nn.one_hot(Y, V, dtype=DXP.dtype), DXP[:, 0])
    dvalues = jnp.einsum("tbs,tbg->bsg", A, DXP[:, 0])
    return dw, dkeys, dvalues, dtokens, None, dh0, None, None


unroll.defvjp(_unroll_fwd, _unroll_bwd)
