"""Params, encoder, the decoder's per-batch memory and the forward pass of the attention
seq2seq. The decoder step and loop are revseq_jax.decoder's (decoder_step is re-exported here:
beam search, the attention ablation and the tests call it as model.decoder_step).

Params are nested dicts that mirror the notebook's state_dict names
(params["decoder"]["attention"]["W_h"]["weight"] is "decoder.attention.W_h.weight").
Shapes: B batch, S source length, T target length, E embedding, H hidden, V vocabulary.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from revseq.task.config import ModelConfig
from revseq.task.conventions import initial_attention
from revseq.task.init import init_params as shared_init
from revseq.task.vocab import PAD
from revseq_jax import attention, decoder, gru
from revseq_jax.decoder import Masks, Memory
from revseq_jax.decoder import decoder_step as decoder_step  # the one step, re-exported


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
    embedding = embedding_table(params, cfg)
    gate_table = embedding @ w_ih[:, :E].T + p["gru"]["bias_ih_l0"][None, :]
    prior = None
    if cfg.attention == "location":
        prior = initial_attention(jnp, mask, cfg.attention_prior, jnp.ones(mask.shape, enc.dtype))
    return Memory(keys, enc, mask, gate_table, embedding, prior)


def embedding_table(params: dict, cfg: ModelConfig) -> jax.Array:
    """The decoder's embedding of every token [V, E], PAD's row zero (and without gradient)."""
    return embed(params["decoder"]["embedding"]["weight"], jnp.arange(cfg.vocab_size))


def dropout_masks(key: jax.Array, cfg: ModelConfig, B: int, T: int) -> Masks:
    """Inverted-dropout masks of the decoder for T steps: 0 or 1 / (1 - rate)."""
    keep = 1.0 - cfg.dropout
    L, E, H = cfg.num_layers, cfg.embed_dim, cfg.hidden_dim
    k_emb, k_layers = jax.random.split(key)
    emb = jax.random.bernoulli(k_emb, keep, (T, B, E)) / keep
    layers = jax.random.bernoulli(k_layers, keep, (T, L - 1, B, H)) / keep
    return Masks(emb, layers)


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
    k_enc, k_dec = jax.random.split(key) if key is not None and dropout else (None, None)
    enc, h = encode(params, cfg, src, k_enc)
    memory = prepare_memory(params, cfg, enc, src != PAD)
    masks = dropout_masks(k_dec, cfg, B, T) if k_dec is not None else None
    return decoder_loop(params, cfg, memory, decoder_start(params, cfg, h), tgt_in, force, masks)


def decoder_loop(
    params: dict,
    cfg: ModelConfig,
    memory: Memory,
    h: jax.Array,
    tgt_in: jax.Array,
    force: jax.Array,
    masks: Masks | None,
):
    """T decoder steps from states h [L, B, H] -> logits [B, T, V], attention [B, T, S]:
    decoder.loop (decoder_step under lax.scan, with the hand-written backward pass). tgt_in,
    force [B, T] as in forward; masks: dropout_masks' (T first), or None."""
    inputs = decoder.Inputs(tgt_in.T, force.T, masks)
    logits, weights = decoder.loop(cfg, params, memory, h, inputs)
    return logits.swapaxes(0, 1), weights.swapaxes(0, 1)
