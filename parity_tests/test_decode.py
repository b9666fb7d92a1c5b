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
