"""Encoder, decoder step and the teacher-forced forward pass of the attention seq2seq.

Params are nested dicts that mirror the notebook's state_dict names
(params["decoder"]["attention"]["W_h"]["weight"] is "decoder.attention.W_h.weight").
Shapes: B batch, S source length, T target length, E embedding, H hidden, V vocabulary.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from revseq.config import ModelConfig
from revseq.layout import param_shapes
from revseq.vocab import PAD
from revseq_jax import attention, gru


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


def decoder_step(
    params: dict,
    cfg: ModelConfig,
    h: jax.Array,
    y_prev: jax.Array,
    keys: jax.Array,
    enc: jax.Array,
    mask: jax.Array,
    key: jax.Array | None = None,
):
    """One decoder step: h [L, B, H], previous token y_prev [B] -> (h, logits [B, V], attn [B, S]).

    The context comes from the previous top-layer state; the GRU reads [embedding; context].
    """
    p = params["decoder"]
    k_emb, k_gru = (None, None) if key is None else jax.random.split(key)
    emb = gru.dropout(embed(p["embedding"]["weight"], y_prev), cfg.dropout, k_emb)  # B x E
    context, weights = attention.attend(p["attention"], keys, enc, mask, h[-1])
    h = gru.step(p["gru"], jnp.concatenate([emb, context], axis=-1), h, cfg.dropout, k_gru)
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
    keys = attention.project_keys(params["decoder"]["attention"], enc)  # once, not per step
    mask = src != PAD
    T = tgt_in.shape[1]

    def step(carry, xs):
        h, pred = carry
        tok, forced, t = xs
        y = jnp.where(forced, tok, pred)
        k = None if k_dec is None else jax.random.fold_in(k_dec, t)
        h, logits, weights = decoder_step(params, cfg, h, y, keys, enc, mask, k)
        return (h, jnp.argmax(logits, axis=-1).astype(tok.dtype)), (logits, weights)

    xs = (tgt_in.T, force.T, jnp.arange(T))
    _, (logits, weights) = lax.scan(step, (h, tgt_in[:, 0]), xs)
    return logits.swapaxes(0, 1), weights.swapaxes(0, 1)
