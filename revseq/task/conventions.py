"""The rules both backends follow, written once: constants, and the greedy decoder's stop rule
and scores, written against an array namespace (`jax.numpy` or `torch`) so each backend runs
them on its own arrays, inside its own compiled or eager code.

Shapes: B batch, S source length (words + EOS, then PAD), T decoder steps.
"""

from __future__ import annotations

from collections.abc import Iterable

from revseq.task.vocab import EOS, PAD

# Large but finite: attention over a fully masked row gives a uniform softmax instead of NaN.
MASKED_SCORE = -1e10

# A sentence may emit at most (its source length + EXTRA_STEPS) tokens. The limit depends on
# the sentence alone, never on its batch, so a prediction does not change with its neighbours.
EXTRA_STEPS = 4

# The longest sentence the tools take, in words. The GRUs have no length limit, but every new
# padded length compiles anew (JAX), and a model trained on 3-10 words is lost long before this.
MAX_WORDS = 100

# The widest beam the tools search: wider ones find nothing the test split needs (docs/runs.md)
# and grow memory with the beam times the batch.
MAX_BEAM = 64

# Sentences per validation and decoding batch: a static shape, the last batch padded with empty
# rows; large enough that a test split of 1,000 takes four calls.
EVAL_BATCH = 256


def live_steps(xp, tokens, src):
    """[B, T] True where a greedy decoder is still running: up to and including its first EOS
    and within the sentence's limit (its length + EXTRA_STEPS)."""
    is_eos = (tokens == EOS) * 1
    after_eos = (xp.cumsum(is_eos, axis=1) - is_eos) > 0
    limit = (src != PAD).sum(axis=1, keepdims=True) + EXTRA_STEPS
    return ~after_eos & (xp.arange(tokens.shape[1])[None, :] < limit)


def exact_and_aligned(xp, tokens, weights, src, tgt_out, live):
    """Sums over a decoded batch: "exact", the rows whose output equals tgt_out [B, S] (an all-PAD
    row is no sentence); "aligned" and "word_steps", of the word-emitting steps run, those whose
    attention [B, T, S] peaks on the mirrored source word (step t of n words emits n-1-t)."""
    S, T = src.shape[1], tokens.shape[1]
    pad = tgt_out == PAD
    hit = (tokens[:, :S] == tgt_out) | pad
    exact = (hit.all(axis=1) & ~pad.all(axis=1)).sum()
    n = (src != PAD).sum(axis=1, keepdims=True) - 1  # words, EOS not counted
    t = xp.arange(T)[None, :]
    word = live & (t < n)
    aligned = (word & (weights.argmax(axis=-1) == n - 1 - t)).sum()
    return {"exact": exact, "aligned": aligned, "word_steps": word.sum()}


def initial_attention(xp, mask, prior: str, ones):
    """The weights [B, S] that location attention's first decoder step reads as the previous
    step's (ModelConfig.attention_prior): "zeros"; "uniform" over the real positions; "eos", a
    one-hot on the source <EOS>, the last real position. mask [B, S] is True at real tokens;
    ones [B, S] holds ones in the dtype wanted. An all-PAD row gets zeros."""
    real = xp.where(mask, ones, 0 * ones)
    if prior == "zeros":
        return 0 * ones
    if prior == "uniform":
        count = real.sum(axis=1, keepdims=True)
        return real / (count + (count == 0))
    last = mask.sum(axis=1, keepdims=True) - 1
    return xp.where(xp.arange(mask.shape[1])[None, :] == last, ones, 0 * ones)


def add_up(rows: Iterable[dict], start: dict | None = None) -> dict[str, float]:
    """Per-step figures (floats, or 0-d arrays and tensors) added key by key, in order, as
    floats onto `start` (the sums carried over from an interrupted epoch)."""
    out = dict(start or {})
    for row in rows:
        for k, v in row.items():
            out[k] = out.get(k, 0.0) + float(v)
    return out
