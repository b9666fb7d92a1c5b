"""Encoder, decoder step and the teacher-forced forward pass of the attention seq2seq.

Params are nested dicts that mirror the notebook's state_dict names
(params["decoder"]["attention"]["W_h"]["weight"] is "decoder.attention.W_h.weight").
Shapes: B batch, S source length, T target length, E embedding, H hidden, V vocabulary.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from revseq.task.config import ModelConfig
from revseq.task.conventions import initial_attention
from revseq.task.init import init_params as shared_init
from revseq.task.vocab import PAD
from revseq_jax import attention, decoder, gru


def init_params(cfg: ModelConfig, seed: int = 0) -> dict:
    """The run's initial weights for this seed (revseq.task.init, the one initialiser both backends
    share) as nested params."""
    return unflatten({k: jnp.asarray(v) for k, v in shared_init(cfg, seed).items()})


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
    return gru.gru(p["gru"], x, mask, rate=cfg.dropout, key=k_gru, unroll=cfg.scan_unroll)


class Memory(NamedTuple):
    """What every decoder step reads, computed once per batch from the encoder outputs."""

    keys: jax.Array  # W_h enc: B x S x H
    enc: jax.Array  # the encoder outputs: B x S x H
    mask: jax.Array  # True at real source tokens: B x S
    gate_table: jax.Array  # every token's share of the layer-0 gates, W_ie emb + b_ih: V x 3H
    # Location attention: the weights the first step reads as the previous step's, B x S
    # (ModelConfig.attention_prior); None for bahdanau.
    prior: jax.Array | None = None


def decoder_start(params: dict, cfg: ModelConfig, h: jax.Array) -> jax.Array:
    """The decoder's first states [L, B, H] from the encoder's final states h [L, B, H]:
    those (decoder_init "encoder", the notebook's), zeros, or the learned decoder.h0."""
    if cfg.decoder_init == "zeros":
        return jnp.zeros_like(h)
    if cfg.decoder_init == "learned":
        return jnp.broadcast_to(params["decoder"]["h0"][:, None, :], h.shape).astype(h.dtype)
    return h


def prepare_memory(params: dict, cfg: ModelConfig, enc: jax.Array, mask: jax.Array) -> Memory:
    """Project the attention keys and the embedding table once per batch (and, for location
    attention, set the first step's previous weights).

    The GRU reads [embedding; context] through weight_ih_l0 = [W_ie | W_ic]; the embedding's
    share W_ie emb + b_ih of every token is a [V, 3H] table, so a step gathers a row instead of
    a [B, E] x [E, 3H] matmul. (Projecting the encoder outputs by W_ic once as well would save
    the context's matmul too, but then a step's weighted sum runs over 3H instead of H: level at
    10 words, 25 % slower a step at 80.)
    """
    p = params["decoder"]
    E = cfg.embed_dim
    w_ih = p["gru"]["weight_ih_l0"]
    keys = attention.project_keys(p["attention"], enc)
    gate_table = embedding_table(params, cfg) @ w_ih[:, :E].T + p["gru"]["bias_ih_l0"][None, :]
    prior = None
    if cfg.attention == "location":
        prior = initial_attention(jnp, mask, cfg.attention_prior, jnp.ones(mask.shape, enc.dtype))
    return Memory(keys, enc, mask, gate_table, prior)


def embedding_table(params: dict, cfg: ModelConfig) -> jax.Array:
    """The decoder's embedding of every token [V, E], PAD's row zero (and without gradient)."""
    return embed(params["decoder"]["embedding"]["weight"], jnp.arange(cfg.vocab_size))


def dropout_masks(key: jax.Array, cfg: ModelConfig, B: int, T: int) -> decoder.Masks:
    """Inverted-dropout masks of the decoder for T steps: 0 or 1 / (1 - rate)."""
    keep = 1.0 - cfg.dropout
    L, E, H = cfg.num_layers, cfg.embed_dim, cfg.hidden_dim
    k_emb, k_layers = jax.random.split(key)
    emb = jax.random.bernoulli(k_emb, keep, (T, B, E)) / keep
    layers = jax.random.bernoulli(k_layers, keep, (T, L - 1, B, H)) / keep
    return decoder.Masks(emb, layers)


def decoder_step(
    params: dict,
    cfg: ModelConfig,
    h: jax.Array,
    y_prev: jax.Array,
    memory: Memory,
    drop: decoder.Masks | None = None,
    fixed: jax.Array | None = None,
    a_prev: jax.Array | None = None,
):
    """One decoder step: h [L, B, H], previous token y_prev [B] -> (h, logits [B, V], attn [B, S]).

    Attention uses the previous top-layer state; the GRU reads [embedding; context]. drop holds
    this step's dropout masks (emb [B, E], layers [L-1, B, H]); None is evaluation. fixed
    [B, S], if given, replaces the step's attention weights (revseq.report.ablation). a_prev [B, S]:
    location attention's previous weights (memory.prior at the first step, then the attn this
    function returned); None for bahdanau.
    """
    p = params["decoder"]
    g = p["gru"]
    weights = attention.weights(p["attention"], memory.keys, memory.mask, h[-1], a_prev)
    if fixed is not None:
        weights = fixed.astype(weights.dtype)
    if drop is None:
        xp = memory.gate_table[y_prev]  # B x 3H
    else:
        emb = embedding_table(params, cfg)[y_prev] * drop.emb  # B x E
        xp = emb @ g["weight_ih_l0"][:, : cfg.embed_dim].T + g["bias_ih_l0"][None, :]
    context = jnp.einsum("bs,bsh->bh", weights, memory.enc)  # B x H
    xp = xp + context @ g["weight_ih_l0"][:, cfg.embed_dim :].T
    new = [gru.cell(g, 0, xp, h[0])]
    for k in range(1, h.shape[0]):
        x = new[-1] if drop is None else new[-1] * drop.layers[k - 1]
        new.append(gru.cell(g, k, gru.input_proj(g, k, x), h[k]))
    h = jnp.stack(new)
    logits = h[-1] @ p["fc"]["weight"].T + p["fc"]["bias"][None, :]
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
    always reads tgt_in[:, 0] (SOS). key enables dropout; None is evaluation. The loop is
    decoder.loop, a jax.custom_vjp whose backward pass is written by hand: reverse mode only,
    so jax.grad and jax.vjp work and jax.jvp or jax.jacfwd through forward() raise a TypeError.
    """
    B, T = tgt_in.shape
    dropout = key is not None and cfg.dropout > 0
    k_enc, k_dec = jax.random.split(key) if dropout else (None, None)
    enc, h = encode(params, cfg, src, k_enc)
    memory = prepare_memory(params, cfg, enc, src != PAD)
    masks = dropout_masks(k_dec, cfg, B, T) if dropout else None
    return decoder_loop(params, cfg, memory, decoder_start(params, cfg, h), tgt_in, force, masks)


def decoder_loop(
    params: dict,
    cfg: ModelConfig,
    memory: Memory,
    h: jax.Array,
    tgt_in: jax.Array,
    force: jax.Array,
    masks: decoder.Masks | None,
):
    """T decoder steps from states h [L, B, H] -> logits [B, T, V], attention [B, T, S].

    Gathers decoder.loop's weights from params; its token input is memory.gate_table, or with
    dropout masks the embedding table itself. Location attention adds F, U and memory.prior.
    """
    p = params["decoder"]
    w = {
        "W_s": p["attention"]["W_s"]["weight"],
        "v": p["attention"]["v"]["weight"],
        "fc_w": p["fc"]["weight"],
        "fc_b": p["fc"]["bias"],
        "W_ic": p["gru"]["weight_ih_l0"][:, cfg.embed_dim :],
        **{k: v for k, v in p["gru"].items() if k not in ("weight_ih_l0", "bias_ih_l0")},
    }
    if memory.prior is not None:
        w["F"], w["U"] = p["attention"]["F"]["weight"], p["attention"]["U"]["weight"]
    gate_table, embedding = memory.gate_table, None
    if masks is not None:  # the dropout falls between the embedding and W_ie
        gate_table, embedding = None, embedding_table(params, cfg)
        w["W_ie"] = p["gru"]["weight_ih_l0"][:, : cfg.embed_dim]
        w["b_ih0"] = p["gru"]["bias_ih_l0"]
    m = memory
    logits, weights = decoder.loop(
        cfg.scan_unroll,
        w,
        m.keys,
        m.enc,
        m.mask,
        h,
        m.prior,
        tgt_in,
        force,
        gate_table,
        embedding,
        masks,
    )
    return logits.swapaxes(0, 1), weights.swapaxes(0, 1)
