"""Encoder, decoder step and the teacher-forced forward pass of the attention seq2seq.

Params are nested dicts that mirror the notebook's state_dict names
(params["decoder"]["attention"]["W_h"]["weight"] is "decoder.attention.W_h.weight").
Shapes: B batch, S source length, T target length, E embedding, H hidden, V vocabulary.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from revseq.config import ModelConfig
from revseq.layout import param_shapes
from revseq.vocab import PAD
from revseq_jax import attention, decoder, gru


def init_params(key: jax.Array, cfg: ModelConfig) -> dict:
    """Random params with PyTorch's default initialisers (PAD embedding rows are zero)."""
    flat = {}
    names = param_shapes(cfg)
    for i, (name, shape) in enumerate(names.items()):
        k = jax.random.fold_in(key, i)
        if name.endswith("embedding.weight"):
            flat[name] = jax.random.normal(k, shape).at[PAD].set(0.0)
        elif ".gru." in name:
            bound = cfg.hidden_dim**-0.5
            flat[name] = jax.random.uniform(k, shape, minval=-bound, maxval=bound)
        else:  # nn.Linear: weight and bias both U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            fan_in = names[name.replace(".bias", ".weight")][-1]
            bound = fan_in**-0.5
            flat[name] = jax.random.uniform(k, shape, minval=-bound, maxval=bound)
    return unflatten(flat)


def unflatten(flat: dict) -> dict:
    """{"a.b.c": x} -> {"a": {"b": {"c": x}}}."""
    tree: dict = {}
    for name, value in flat.items():
        *path, leaf = name.split(".")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def flatten(tree: dict, prefix: str = "") -> dict:
    """Inverse of unflatten."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def embed(table: jax.Array, ids: jax.Array) -> jax.Array:
    """Lookup whose PAD rows are zero and get no gradient, as nn.Embedding(padding_idx=0)."""
    return jnp.where((ids == PAD)[..., None], 0.0, table[ids])


def encode(params: dict, cfg: ModelConfig, src: jax.Array, key: jax.Array | None = None):
    """src [B, S] -> outputs [B, S, H], final states [L, B, H]; PAD steps leave states unchanged."""
    p = params["encoder"]
    mask = src != PAD
    k_emb, k_gru = (None, None) if key is None else jax.random.split(key)
    x = gru.dropout(embed(p["embedding"]["weight"], src), cfg.dropout, k_emb)  # B x S x E
    return gru.gru(p["gru"], x, mask, rate=cfg.dropout, key=k_gru)


class Memory(NamedTuple):
    """What every decoder step reads, computed once per batch from the encoder outputs."""

    keys: jax.Array  # W_h enc: B x S x H
    values: jax.Array  # the context's share of the layer-0 gates, W_ic enc: B x S x 3H
    mask: jax.Array  # True at real source tokens: B x S
    tokens: jax.Array | None  # every token's share of the layer-0 gates, W_ie emb + b_ih: V x 3H


def prepare_memory(
    params: dict, cfg: ModelConfig, enc: jax.Array, mask: jax.Array, dropout: bool = False
) -> Memory:
    """Project the encoder outputs (and, without dropout, the embedding table) once.

    The GRU reads [embedding; context] through weight_ih_l0 = [W_ie | W_ic]. As the context is
    a weighted sum of encoder outputs, W_ic context = sum_s w_s (W_ic enc_s): projecting the
    encoder outputs once replaces a [B, H] x [H, 3H] matmul per step by a [B, S] x [S, 3H] one.
    """
    p = params["decoder"]
    E = cfg.embed_dim
    w_ih = p["gru"]["weight_ih_l0"]
    keys = attention.project_keys(p["attention"], enc)
    values = enc @ w_ih[:, E:].T
    tokens = None
    if not dropout:  # dropout on the embedding would come between lookup and projection
        table = embed(p["embedding"]["weight"], jnp.arange(cfg.vocab_size))
        tokens = table @ w_ih[:, :E].T + p["gru"]["bias_ih_l0"]
    return Memory(keys, values, mask, tokens)


def decoder_step(
    params: dict,
    cfg: ModelConfig,
    h: jax.Array,
    y_prev: jax.Array,
    memory: Memory,
    key: jax.Array | None = None,
):
    """One decoder step: h [L, B, H], previous token y_prev [B] -> (h, logits [B, V], attn [B, S]).

    Attention uses the previous top-layer state; the GRU reads [embedding; context].
    """
    p = params["decoder"]
    g = p["gru"]
    weights = attention.weights(p["attention"], memory.keys, memory.mask, h[-1])
    if memory.tokens is not None:
        xp = memory.tokens[y_prev]  # B x 3H
    else:
        k_emb = None if key is None else jax.random.fold_in(key, 0)
        emb = gru.dropout(embed(p["embedding"]["weight"], y_prev), cfg.dropout, k_emb)  # B x E
        xp = emb @ g["weight_ih_l0"][:, : cfg.embed_dim].T + g["bias_ih_l0"]
    xp = xp + jnp.einsum("bs,bsg->bg", weights, memory.values)  # + W_ic context
    h = gru.step(g, xp, h, cfg.dropout, None if key is None else jax.random.fold_in(key, 1))
    logits = h[-1] @ p["fc"]["weight"].T + p["fc"]["bias"]
    return h, logits, weights


def forward(
    params: dict,
    cfg: ModelConfig,
    src: jax.Array,
    tgt_in: jax.Array,
    force: jax.Array,
    key: jax.Array | None = None,
):
    """Logits [B, T, V] and attention [B, T, S] over T decoder steps.

    Step t reads tgt_in[:, t] where force[:, t] is True, else its own previous argmax; step 0
    always reads tgt_in[:, 0] (SOS). key enables dropout; None is evaluation.
    """
    k_enc, k_dec = (None, None) if key is None else jax.random.split(key)
    enc, h = encode(params, cfg, src, k_enc)
    memory = prepare_memory(params, cfg, enc, src != PAD, dropout=k_dec is not None)
    if memory.tokens is not None:  # no dropout: the loop with the hand-written backward pass
        p = params["decoder"]
        w = {
            "W_s": p["attention"]["W_s"]["weight"],
            "v": p["attention"]["v"]["weight"],
            "fc_w": p["fc"]["weight"],
            "fc_b": p["fc"]["bias"],
            **{k: v for k, v in p["gru"].items() if k not in ("weight_ih_l0", "bias_ih_l0")},
        }
        m = memory
        logits, weights = decoder.unroll(w, m.keys, m.values, m.tokens, m.mask, h, tgt_in, force)
        return logits.swapaxes(0, 1), weights.swapaxes(0, 1)
    T = tgt_in.shape[1]

    def step(carry, xs):
        h, pred = carry
        tok, forced, t = xs
        y = jnp.where(forced, tok, pred)
        k = None if k_dec is None else jax.random.fold_in(k_dec, t)
        h, logits, weights = decoder_step(params, cfg, h, y, memory, k)
        return (h, jnp.argmax(logits, axis=-1).astype(tok.dtype)), (logits, weights)

    xs = (tgt_in.T, force.T, jnp.arange(T))
    _, (logits, weights) = lax.scan(step, (h, tgt_in[:, 0]), xs)
    return logits.swapaxes(0, 1), weights.swapaxes(0, 1)
