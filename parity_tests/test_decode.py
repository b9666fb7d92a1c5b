"""Greedy decoding: equal tokens, close attention, the same stopping rule, equal validation sums.

On the shared random weights greedy decoding never emits EOS and its attention never peaks on
the mirrored word, so exact matches, alignment and early stops would all be 0 or absent on both
sides. decode_weights nudges two weights so that each of them happens, and the guard test below
checks that it does.
"""

import jax.numpy as jnp
import numpy as np
import torch
from shared import assert_close, jax_params, ragged_batch, steer_location, torch_model

from revseq.task.vocab import EOS, PAD
from revseq_jax import decode as jdecode
from revseq_torch import decode as tdecode

# Added to the EOS logit: some rows stop at EOS (at different steps), one runs to its limit;
# per attention (location's weights steered as shared.steer_location says).
EOS_BIAS = {"bahdanau": 0.54, "location": 0.3}
# Scales the attention's query weight W_s, so attention moves with the decoder state and some
# step peaks on the mirrored source word.
QUERY_SCALE = 3.0
EXACT_ROWS = [0, 3]  # references made equal to the greedy output: must count as exact
NEAR_ROW = 4  # a reference one token off the greedy output: must not


def decode_weights(case) -> dict:
    """The case's shared weights with EOS_BIAS and QUERY_SCALE applied (location's steered)."""
    weights = case.weights if case.name == "bahdanau" else steer_location(case.weights)
    bias = weights["decoder.fc.bias"].copy()
    bias[EOS] += EOS_BIAS[case.name]
    w_s = weights["decoder.attention.W_s.weight"] * QUERY_SCALE
    return weights | {"decoder.fc.bias": bias, "decoder.attention.W_s.weight": w_s}


def torch_greedy(weights, mode, src, cfg):
    """The torch reference's greedy tokens [B, T] and attention [B, T, S] as numpy."""
    with torch.no_grad():
        model = torch_model(weights, mode, cfg)
        tokens, w = tdecode.greedy_decode(model, torch.from_numpy(src))
    return tokens.numpy(), mode.np(w)


def alignment_counts(src, tokens, attention) -> tuple[int, int]:
    """(aligned, word_steps) recomputed from decoded output: of the steps run (non-zero
    attention) before step n (n words, EOS excluded), those whose attention peaks on word
    n - 1 - t."""
    n = (src != PAD).sum(axis=1, keepdims=True) - 1  # B x 1
    t = np.arange(tokens.shape[1])[None, :]
    word = (attention.sum(-1) > 0) & (t < n)
    return int((word & (attention.argmax(-1) == n - 1 - t)).sum()), int(word.sum())


def test_the_decode_weights_stop_some_rows_early_and_align_some_steps(case, mode):
    """Guards the tests below: EOS ends rows at different steps, one row runs to its step
    limit, and the alignment count is neither 0 nor every word step."""
    src = ragged_batch().src
    tokens, attention = torch_greedy(decode_weights(case), mode, src, case.cfg)
    steps = (attention.sum(-1) > 0).sum(axis=1)
    limit = (src != PAD).sum(axis=1) + jdecode.EXTRA_STEPS
    stopped = (tokens == EOS).any(axis=1)
    assert stopped.any() and (~stopped).any() and (steps[~stopped] == limit[~stopped]).all()
    assert len(set(steps[stopped])) > 1, "EOS at different steps"
    aligned, word_steps = alignment_counts(src, tokens, attention)
    assert 0 < aligned < word_steps


def test_greedy_decode_tokens_equal_and_attention_close(case, mode):
    weights, cfg = decode_weights(case), case.cfg
    src = ragged_batch().src
    fn = mode.jax_fn(lambda p, s: jdecode.greedy_decode(p, cfg, s))
    tokens_j, w_j = fn(jax_params(weights, mode, cfg), jnp.asarray(src))
    tokens_t, w_t = torch_greedy(weights, mode, src, cfg)
    np.testing.assert_array_equal(np.asarray(tokens_j), tokens_t)
    assert_close("decode attention", w_j, w_t, mode.tol)


def test_validation_sums_equal(case, mode):
    """The scored greedy pass (validation): loss sum, token count, exact rows and alignment
    agree, and equal what the greedy output itself gives."""
    weights, cfg = decode_weights(case), case.cfg
    b = ragged_batch()
    S = b.src.shape[1]
    greedy, attention = torch_greedy(weights, mode, b.src, cfg)
    tgt_out = b.tgt_out.copy()
    tgt_out[EXACT_ROWS] = greedy[EXACT_ROWS, :S]
    tgt_out[NEAR_ROW] = greedy[NEAR_ROW, :S]
    tgt_out[NEAR_ROW, 0] = 4 if greedy[NEAR_ROW, 0] != 4 else 5  # one word off
    assert (tgt_out[EXACT_ROWS] != PAD).any(axis=1).all()
    fn = mode.jax_fn(lambda p, s, y: jdecode.decode_and_score(p, cfg, s, y)[2])
    sums_j = fn(jax_params(weights, mode, cfg), jnp.asarray(b.src), jnp.asarray(tgt_out))
    with torch.no_grad():
        sums_t = tdecode.decode_and_score(
            torch_model(weights, mode, cfg), torch.from_numpy(b.src), torch.from_numpy(tgt_out)
        )[2]
    aligned, word_steps = alignment_counts(b.src, greedy, attention)
    assert int(sums_j["count"]) == int(sums_t["count"]) == int((tgt_out != PAD).sum())
    assert int(sums_j["exact"]) == int(sums_t["exact"]) == len(EXACT_ROWS)
    assert int(sums_j["word_steps"]) == int(sums_t["word_steps"]) == word_steps
    assert int(sums_j["aligned"]) == int(sums_t["aligned"]) == aligned > 0
    assert_close("validation loss sum", sums_j["loss_sum"], mode.np(sums_t["loss_sum"]), mode.tol)
