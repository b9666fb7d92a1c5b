"""Batched beam search: the K best hypotheses of every sentence, then the best one per sentence.

Rules shared with revseq_torch.beam (the parity suite checks both):
- A sentence runs for as many steps as greedy decoding gives it (its source length plus
  revseq.task.conventions.EXTRA_STEPS); the array has T = S + EXTRA_STEPS steps.
- Scores are sums of log_softmax(logits). The beam keeps the K best by that raw sum; ties go
  to the lower index of beam * V + token.
- A hypothesis that emitted EOS, or reached its sentence's step limit, is finished: it keeps
  its score and slot and emits PAD (with zero attention) from then on.
- At step 0 a sentence has one live hypothesis (the others score -inf), so the beam does not
  fill with copies of the same prefix. While fewer than K hypotheses exist (beam > V at step
  0), the spare slots hold -inf placeholders, which are never the best.
- The best of the K final hypotheses maximises log_prob / length**length_penalty, where
  length counts the tokens emitted including EOS; length_penalty 0 ranks by the raw sum.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from revseq.task.config import ModelConfig
from revseq.task.conventions import EXTRA_STEPS
from revseq.task.vocab import EOS, PAD, SOS
from revseq_jax.model import decoder_start, decoder_step, encode, prepare_memory


@partial(jax.jit, static_argnames=("cfg", "beam"))
def beam_search(
    params: dict, cfg: ModelConfig, src: jax.Array, beam: int, length_penalty: float = 0.0
):
    """Beam search of width `beam` over src [B, S].

    Returns the best hypothesis of each sentence: tokens [B, T] int32 (PAD after EOS or the
    step limit), its log_prob [B] (the raw sum of its tokens' log-probabilities) and its
    attention [B, T, S] (0 at PAD steps); T = S + EXTRA_STEPS.
    """
    B, S = src.shape
    K, V = beam, cfg.vocab_size
    if K < 1:
        raise ValueError(f"beam must be at least 1, got {K}")
    T = S + EXTRA_STEPS
    mask = src != PAD
    enc, h = encode(params, cfg, src)
    memory = prepare_memory(params, cfg, jnp.repeat(enc, K, axis=0), jnp.repeat(mask, K, axis=0))
    limit = mask.sum(axis=1, keepdims=True) + EXTRA_STEPS  # B x 1
    dtype = enc.dtype
    # A finished hypothesis has one continuation: PAD, at no cost.
    stay = jnp.full((V,), -jnp.inf, dtype).at[PAD].set(0.0)
    rows = jnp.arange(B)[:, None]

    def step(carry, t):
        h, a, y, score, done, length = carry  # L x BK x H, BK x S or None, BK, 3 x [B x K]
        h, logits, attn = decoder_step(params, cfg, h, y, memory, a_prev=a)
        logp = jax.nn.log_softmax(logits, axis=-1).reshape(B, K, V)
        live = ~done & (t < limit)  # B x K
        cand = score[..., None] + jnp.where(live[..., None], logp, stay[None, None])  # B x K x V
        score, best = lax.top_k(cand.reshape(B, K * V), K)  # B x K, sorted
        parent, token = best // V, best % V  # int32, as top_k's indices
        was_live = live[rows, parent]
        token = jnp.where(was_live, token, PAD)  # PAD already, save for -inf placeholders
        done = done[rows, parent] | (was_live & (token == EOS))
        length = length[rows, parent] + was_live
        chosen = (rows * K + parent).reshape(-1)  # BK: each new hypothesis's parent row
        h, a = h[:, chosen], None if a is None else attn[chosen]
        attn = jnp.where(was_live[..., None], attn.reshape(B, K, S)[rows, parent], 0.0)
        return (h, a, token.reshape(-1), score, done, length), (token, parent, attn)

    score = jnp.full((B, K), -jnp.inf, dtype).at[:, 0].set(0.0)
    start = (
        jnp.repeat(decoder_start(params, cfg, h), K, axis=1),
        memory.prior,  # location attention's first previous weights (None for bahdanau)
        jnp.full((B * K,), SOS, jnp.int32),  # step 0 reads SOS, as greedy's does
        score,
        jnp.zeros((B, K), bool),
        jnp.zeros((B, K), jnp.int32),
    )
    (_, _, _, score, _, length), history = lax.scan(step, start, jnp.arange(T))
    ranked = score / length.astype(dtype) ** length_penalty
    best = jnp.argmax(ranked, axis=1).astype(jnp.int32)  # B

    def back(k, xs):
        token, parent, attn = xs  # B x K, B x K, B x K x S
        i = jnp.arange(B)
        return parent[i, k], (token[i, k], attn[i, k])

    _, (tokens, attention) = lax.scan(back, best, history, reverse=True)
    log_prob = score[jnp.arange(B), best]
    return tokens.T, log_prob, attention.swapaxes(0, 1)
