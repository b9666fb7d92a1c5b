"""Greedy decoding: equal tokens, close attention, the same stopping rule."""

import jax.numpy as jnp
import numpy as np
import torch
from shared import CFG, assert_close, jax_params, ragged_batch, torch_model

from revseq_jax import decode as jdecode
from revseq_torch import decode as tdecode


def test_both_backends_stop_after_the_same_number_of_extra_steps():
    assert jdecode.EXTRA_STEPS == tdecode.EXTRA_STEPS


def test_greedy_decode_tokens_equal_and_attention_close(weights, mode):
    src = ragged_batch().src
    fn = mode.jax_fn(lambda p, s: jdecode.greedy_decode(p, CFG, s))
    tokens_j, w_j = fn(jax_params(weights, mode), jnp.asarray(src))
    with torch.no_grad():
        tokens_t, w_t = tdecode.greedy_decode(torch_model(weights, mode), torch.from_numpy(src))
    np.testing.assert_array_equal(np.asarray(tokens_j), tokens_t.numpy())
    assert_close("decode attention", w_j, mode.np(w_t), mode.tol)


def test_validation_sums_equal(weights, mode):
    """The scored greedy pass (validation): loss sum, token count and exact rows agree."""
    b = ragged_batch()
    fn = mode.jax_fn(lambda p, s, y: jdecode.decode_and_score(p, CFG, s, y)[2])
    sums_j = fn(jax_params(weights, mode), jnp.asarray(b.src), jnp.asarray(b.tgt_out))
    with torch.no_grad():
        sums_t = tdecode.decode_and_score(
            torch_model(weights, mode), torch.from_numpy(b.src), torch.from_numpy(b.tgt_out)
        )[2]
    assert int(sums_j["count"]) == int(sums_t["count"]) > 0
    assert int(sums_j["exact"]) == int(sums_t["exact"])
    assert int(sums_j["word_steps"]) == int(sums_t["word_steps"]) > 0
    assert int(sums_j["aligned"]) == int(sums_t["aligned"])
    assert_close("validation loss sum", sums_j["loss_sum"], mode.np(sums_t["loss_sum"]), mode.tol)
