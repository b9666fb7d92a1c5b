"""The decoder: one step, and the loop over T steps with a hand-written backward pass.

`step` is the one decoder step: training and greedy decoding run it under `loop`, beam search
and the attention ablation through decoder_step (its outputs without the Saved intermediates;
model.decoder_step).

Autodiff of lax.scan accumulates every weight gradient inside the reverse loop, one small
matmul or a [B, S, 3H] outer product per step, and stores a residual per intermediate: on a
CPU that is hundreds of tiny ops per step. `loop` scans `step` forward and keeps its states,
tokens, attention and Saved intermediates; its reverse loop carries only the state gradients
and emits per-step factors, and every weight gradient is then one large matmul after it
(tests check values and gradients against autodiff of a plain scan of decoder_step, for 1, 2
and 3 layers, with and without dropout, in float64).

Dropout comes in as masks drawn outside (inverted: 0 or 1 / (1 - rate)), so the loop is
deterministic and its backward pass only multiplies by the same masks.

loop is a jax.custom_vjp: it has reverse mode only. jax.grad and jax.vjp work; jax.jvp,
jax.jacfwd and anything else in forward mode raise a TypeError (so do they through
model.forward, which runs this loop).

Shapes: T steps, L layers, B batch, S source, H hidden, G = 3H gates, E embedding, V vocabulary.

Params keep the state_dict names; the equations name their parts: W_s, v, F, U the attention's
(W_s.weight, v.weight, F.weight, U.weight); W_ie = weight_ih_l0[:, :E] and W_ic =
weight_ih_l0[:, E:] layer 0's input weights on the embedding and the context, b_ih0 =
bias_ih_l0; W_ih_k, b_ih_k, W_hh_k, b_hh_k the GRU's weight_ih_l{k}, bias_ih_l{k},
weight_hh_l{k}, bias_hh_l{k}; fc_w, fc_b the output layer's fc.weight, fc.bias. gate_table =
W_ie embedding + b_ih0 [V, G] is every token's share of layer 0's gates (Memory.gate_table).

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

from revseq.task.config import ModelConfig
from revseq_jax import attention, gru


class Masks(NamedTuple):
    """Dropout masks of a training forward pass: on the embedding read at each step, and on
    the input of every GRU layer above the first. T first; a step reads one slice."""

    emb: jax.Array  # m_emb: T x B x E
    layers: jax.Array  # m_k for k = 1 .. L-1: T x (L-1) x B x H


class Memory(NamedTuple):
    """What every decoder step reads, computed once per batch (model.prepare_memory)."""

    keys: jax.Array  # W_h enc: B x S x H
    enc: jax.Array  # the encoder outputs: B x S x H
    mask: jax.Array  # True at real source tokens: B x S
    gate_table: jax.Array  # gate_table = W_ie embedding + b_ih0: V x G (read without dropout)
    embedding: jax.Array  # the decoder's embedding table, PAD's row zero: V x E (with dropout)
    # Location attention: the weights the first step reads as the previous step's, B x S
    # (ModelConfig.attention_prior); None for bahdanau.
    prior: jax.Array | None = None


class Inputs(NamedTuple):
    """What the loop's steps read, T first: step t reads tokens[t] where force[t] is True,
    else its own previous argmax (step 0 always reads tokens[0], SOS)."""

    tokens: jax.Array  # T x B
    force: jax.Array  # T x B
    drop: Masks | None  # None: no dropout (evaluation, or rate 0)


class Saved(NamedTuple):
    """What one step computes on the way that its backward pass reads again."""

    ctx: jax.Array  # (5) context: B x H
    xp: jax.Array  # (6), (7) projected inputs xp_k: L x B x G
    hp: jax.Array  # (8) projected states hp_k: L x B x G


class Residuals(NamedTuple):
    """What the backward pass reads of the forward one (per step: T first)."""

    params: dict
    memory: Memory
    drop: Masks | None
    h: jax.Array  # the states each step starts from, h_k: T x L x B x H
    h_new: jax.Array  # its new states h'_k: T x L x B x H
    y: jax.Array  # the token it read: T x B
    a: jax.Array  # (4) its attention weights: T x B x S
    saved: Saved  # ctx: T x B x H; xp, hp: T x L x B x G


def _layer_mask(drop: Masks | None, k: int, x: jax.Array) -> jax.Array:
    """x times m_k, layer k's dropout mask (k > 0), for one step or all T at once."""
    return x if drop is None else x * drop.layers[..., k - 1, :, :]


def _token_input(g: dict, memory: Memory, y: jax.Array, drop: Masks | None) -> jax.Array:
    """The token's share of (6) for tokens y [...] -> [..., G]: a row of gate_table, or with
    dropout W_ie (embedding[y] * m_emb) + b_ih0."""
    if drop is None:
        return memory.gate_table[y]
    E = memory.embedding.shape[-1]
    W_ie = g["weight_ih_l0"][:, :E]
    return gru.affine(memory.embedding[y] * drop.emb, W_ie, g["bias_ih_l0"])


def decoder_step(params, cfg, h, y_prev, memory, drop=None, fixed=None, a_prev=None):
    """One decoder step: h [L, B, H], previous token y_prev [B] -> (h', logits [B, V],
    attention [B, S]); `step`'s outputs, for callers that do not differentiate it."""
    return step(params, cfg, h, y_prev, memory, drop, fixed, a_prev)[:3]


def step(params, cfg, h, y_prev, memory, drop=None, fixed=None, a_prev=None):
    """The one decoder step, equations (1)-(13): decoder_step's (h', logits, attention) and
    the Saved intermediates that loop's backward pass reads.

    Attention uses the previous top-layer state; the GRU reads [embedding; context]. drop holds
    this step's dropout masks (emb [B, E], layers [L-1, B, H]); None is evaluation. fixed
    [B, S], if given, replaces the step's attention weights (revseq.task.ablation). a_prev [B, S]:
    location attention's previous weights (memory.prior at the first step, then the attention
    the step returned); None for bahdanau.
    """
    p = params["decoder"]
    g = p["gru"]
    W_ic = g["weight_ih_l0"][:, cfg.embed_dim :]
    a = attention.weights(p["attention"], memory.keys, memory.mask, h[-1], a_prev)  # (1)-(4)
    if fixed is not None:
        a = fixed.astype(a.dtype)
    ctx = jnp.einsum("bs,bsh->bh", a, memory.enc)  # (5)
    xp = _token_input(g, memory, y_prev, drop) + ctx @ W_ic.T  # (6)
    xps, hps, new = [], [], []
    for k in range(h.shape[0]):
        if k > 0:
            xp = gru.input_proj(g, k, _layer_mask(drop, k, new[-1]))  # (7)
        hp = gru.hidden_proj(g, k, h[k])  # (8)
        new.append(gru.update(xp, hp, h[k]))  # (9)-(12)
        xps.append(xp)
        hps.append(hp)
    h_new = jnp.stack(new)
    logits = gru.affine(h_new[-1], p["fc"]["weight"], p["fc"]["bias"])  # (13)
    return h_new, logits, a, Saved(ctx, jnp.stack(xps), jnp.stack(hps))


def _run(cfg: ModelConfig, params: dict, memory: Memory, h0: jax.Array, inputs: Inputs):
    """lax.scan of step -> (logits [T, B, V], attention [T, B, S]) and the Residuals."""

    def body(carry, xs):
        h, pred, a_prev = carry  # a_prev: None for bahdanau
        tokens, force, drop = xs
        y = jnp.where(force, tokens, pred)
        h_new, logits, a, saved = step(params, cfg, h, y, memory, drop, a_prev=a_prev)
        pred = jnp.argmax(logits, axis=-1).astype(y.dtype)
        return (h_new, pred, None if a_prev is None else a), (logits, a, h, h_new, y, saved)

    start = (h0, inputs.tokens[0], memory.prior)
    _, (logits, a, h, h_new, y, saved) = lax.scan(body, start, inputs, unroll=cfg.scan_unroll)
    return (logits, a), Residuals(params, memory, inputs.drop, h, h_new, y, a, saved)


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def loop(cfg: ModelConfig, params: dict, memory: Memory, h0: jax.Array, inputs: Inputs):
    """Logits [T, B, V] and attention [T, B, S] of T decoder steps from states h0 [L, B, H];
    reverse-mode only (jax.jvp and jax.jacfwd through it raise a TypeError).

    cfg is static (its scan_unroll: time steps per lax.scan body). params is the whole model's
    (the loop reads params["decoder"]'s attention, gru and fc; their gradients are its own,
    the rest reach the loss through memory and h0).
    """
    return _run(cfg, params, memory, h0, inputs)[0]


def _location_adjoint(p_att: dict, a_prev, dl):
    """(1b), (1a) backwards: dl [B, S, H] -> (da_prev [B, S], dF [k, width], dU [H, k])."""
    F = p_att["F"]["weight"][:, 0, :]  # k x width
    win = attention.windows(a_prev, F.shape[-1])  # B x S x width
    f = win @ F.T  # (1a) recomputed: B x S x k
    df = dl @ p_att["U"]["weight"]  # (1b)
    dU = jnp.einsum("bsh,bsk->hk", dl, f)  # (1b)
    dF = jnp.einsum("bsk,bsw->kw", df, win)  # (1a)
    return attention.windows_transpose(df @ F), dF, dU  # (1a)


def _location(p_att: dict, a_prev):
    """(1a), (1b): the location term U (F * a_prev) [B, S, H]; None without a_prev (bahdanau)."""
    if a_prev is None:
        return None
    return attention.location_term(p_att["F"]["weight"], p_att["U"]["weight"], a_prev)


def _outer(dy, x):
    """dy^T x summed over steps and rows, one matmul: [T, B, X] x [T, B, Y] -> [X, Y]."""
    return jnp.einsum("tbx,tby->xy", dy, x)


def _loop_bwd(cfg: ModelConfig, res: Residuals, cotangents):
    dlogits, da_out = cotangents  # T x B x V, T x B x S (the caller's cotangent of a)
    p, m, masks = res.params["decoder"], res.memory, res.drop
    g, p_att = p["gru"], p["attention"]
    L, E = res.h.shape[1], cfg.embed_dim
    W_s, v, fc_w = p_att["W_s"]["weight"], p_att["v"]["weight"], p["fc"]["weight"]
    W_ie, W_ic = g["weight_ih_l0"][:, :E], g["weight_ih_l0"][:, E:]
    CTX, XP, HP = res.saved  # T first: (5) ctx, (6)-(7) xp, (8) hp of every step
    dtop = dlogits @ fc_w  # (13) dh'_{L-1} from every step's logits, in one matmul: T x B x H

    def back(carry, xs):
        dh, dkeys, da_next = carry  # dh'_k of this step = dh_k of the next: L x B x H; B x S x H
        h, a, a_prev, xp, hp, dh_top, da_ext, drop = xs  # da_next, a_prev: None for bahdanau
        dh_prev, dxp, dhp = [None] * L, [None] * L, [None] * L
        dh_new = dh[L - 1] + dh_top  # (13) dh'_{L-1}
        for k in reversed(range(L)):
            r, z, n = gru.gates(xp[k], hp[k])  # (9)-(11) recomputed
            hp_n = jnp.split(hp[k], 3, axis=-1)[2]
            dn = dh_new * (1.0 - z)  # (12)
            dz = dh_new * (h[k] - n)  # (12)
            dpn = dn * (1.0 - n * n)  # (11)
            dr = dpn * hp_n  # (11)
            dpr = dr * r * (1.0 - r)  # (9)
            dpz = dz * z * (1.0 - z)  # (10)
            dxp[k] = jnp.concatenate([dpr, dpz, dpn], axis=-1)  # (9)-(11) dxp_k
            dhp[k] = jnp.concatenate([dpr, dpz, dpn * r], axis=-1)  # (9)-(11) dhp_k
            dh_prev[k] = dh_new * z + dhp[k] @ g[f"weight_hh_l{k}"]  # (12), (8) dh_k
            if k > 0:  # (7) layer k read layer k-1's new state (through its dropout mask)
                dh_new = dh[k - 1] + _layer_mask(drop, k, dxp[k] @ g[f"weight_ih_l{k}"])
        dctx = dxp[0] @ W_ic  # (6)
        da = jnp.einsum("bh,bsh->bs", dctx, m.enc) + da_ext  # (5)
        if da_next is not None:
            da = da + da_next  # (1a) a is the next step's a_prev
        dscore = jnp.where(m.mask, a * (da - (a * da).sum(-1, keepdims=True)), 0.0)  # (4), (3)
        e = attention.energy(m.keys, h[L - 1], W_s, _location(p_att, a_prev))  # (1), (2) again
        de = dscore[..., None] * v[None]  # (3) B x S x H
        dpre = de * (1.0 - e * e)  # (2) dkeys, dl
        dv = jnp.einsum("bs,bsh->h", dscore, e)  # (3)
        dq = dpre.sum(axis=1)  # (2)
        dh_prev[L - 1] = dh_prev[L - 1] + dq @ W_s  # (1) ds
        da_prev, dloc = None, None
        if a_prev is not None:
            da_prev, *dloc = _location_adjoint(p_att, a_prev, dpre)  # (1b), (1a)
        carry = (jnp.stack(dh_prev), dkeys + dpre, da_prev)
        return carry, (jnp.stack(dxp), jnp.stack(dhp), dq, dv, dctx, dloc)

    # Step t's previous weights: the prior, then step t-1's attention (location only).
    prior = m.prior
    A_prev = None if prior is None else jnp.concatenate([prior[None], res.a[:-1]])
    da_last = None if prior is None else jnp.zeros_like(prior)  # nothing reads the last a
    zeros = (jnp.zeros_like(res.h[0]), jnp.zeros_like(m.keys), da_last)
    xs = (res.h, res.a, A_prev, XP, HP, dtop, da_out, masks)
    (dh0, dkeys, dprior), (DXP, DHP, DQ, DV, DCTX, DLOC) = lax.scan(
        back, zeros, xs, reverse=True, unroll=cfg.scan_unroll
    )

    dg = {}  # the GRU's gradients
    for k in range(L):
        dg[f"weight_hh_l{k}"] = _outer(DHP[:, k], res.h[:, k])  # (8)
        dg[f"bias_hh_l{k}"] = DHP[:, k].sum((0, 1))  # (8)
        if k > 0:
            x = _layer_mask(masks, k, res.h_new[:, k - 1])  # layer k's input h'_{k-1} * m_k
            dg[f"weight_ih_l{k}"] = _outer(DXP[:, k], x)  # (7)
            dg[f"bias_ih_l{k}"] = DXP[:, k].sum((0, 1))  # (7)
    one_hot = jax.nn.one_hot(res.y, m.gate_table.shape[0], dtype=dtop.dtype)  # T x B x V
    dgate_table = dembedding = dg["bias_ih_l0"] = None
    if masks is None:  # the token's share reaches W_ie and b_ih0 through gate_table
        dgate_table = jnp.einsum("tbv,tbg->vg", one_hot, DXP[:, 0])  # (6)
        dW_ie = jnp.zeros_like(W_ie)
    else:
        dW_ie = _outer(DXP[:, 0], m.embedding[res.y] * masks.emb)  # (6)
        dg["bias_ih_l0"] = DXP[:, 0].sum((0, 1))  # (6)
        dembedding = jnp.einsum("tbv,tbe->ve", one_hot, (DXP[:, 0] @ W_ie) * masks.emb)  # (6)
    dg["weight_ih_l0"] = jnp.concatenate([dW_ie, _outer(DXP[:, 0], CTX)], axis=1)  # (6) dW_ic

    dparams = jax.tree_util.tree_map(lambda _: None, res.params)  # None: no gradient here
    d = dparams["decoder"]
    d["gru"] = dg
    d["fc"] = {"weight": _outer(dlogits, res.h_new[:, L - 1]), "bias": dlogits.sum((0, 1))}  # (13)
    d["attention"]["W_s"] = {"weight": _outer(DQ, res.h[:, L - 1])}  # (1)
    d["attention"]["v"] = {"weight": DV.sum(0)[None, :]}  # (3)
    if DLOC is not None:
        d["attention"]["F"] = {"weight": DLOC[0].sum(0)[:, None, :]}  # (1a)
        d["attention"]["U"] = {"weight": DLOC[1].sum(0)}  # (1b)
    denc = jnp.einsum("tbs,tbh->bsh", res.a, DCTX)  # (5)
    # A cotangent of Memory: None where no gradient flows (the mask; a table not used).
    dmemory = Memory(dkeys, denc, None, dgate_table, dembedding, dprior)  # type: ignore[arg-type]
    return dparams, dmemory, dh0, None


loop.defvjp(_run, _loop_bwd)
