"""Attention ablation (revseq.task.ablation): both backends decode with the same fixed weights to
the same tokens, and the rule does replace the model's attention."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from shared import CFG, jax_params, ragged_batch, torch_model

from revseq.task.ablation import fixed_weights
from revseq_jax import decode as jdecode
from revseq_torch import decode as tdecode


@pytest.mark.parametrize("rule", ["uniform", "mirror"])
def test_ablated_decoding_gives_the_same_tokens_in_both_backends(case, mode, rule):
    src, cfg = ragged_batch().src, case.cfg
    tokens_j, w_j = jdecode.greedy_decode_with_attention(
        jax_params(case.weights, mode, cfg), cfg, jnp.asarray(src), rule
    )
    tokens_t, w_t = tdecode.greedy_decode_with_attention(
        torch_model(case.weights, mode, cfg), torch.from_numpy(src), rule
    )
    np.testing.assert_array_equal(tokens_j, tokens_t)
    np.testing.assert_array_equal(w_j, w_t)
    # The weights returned are the rule's, cut where each row stopped.
    live = tokens_j != 0
    full = fixed_weights(src, rule, tokens_j.shape[1])
    np.testing.assert_array_equal(w_j[live], full[live])


def test_the_mirror_rule_replaces_the_models_attention(weights, mode):
    """On random weights the model's own attention is nowhere near one-hot, so fixing it to
    the mirrored position changes what is decoded (bahdanau's: on location attention's random
    weights every row decodes to one repeated word whatever it attends to)."""
    src, cfg = ragged_batch().src, CFG
    params = jax_params(weights, mode, cfg)
    plain, attention = jdecode.greedy_decode(params, cfg, jnp.asarray(src))
    mirrored, fixed = jdecode.greedy_decode_with_attention(params, cfg, jnp.asarray(src), "mirror")
    assert float(np.asarray(attention).max()) < 0.99
    assert set(np.unique(fixed)) <= {0.0, 1.0}
    assert not np.array_equal(np.asarray(plain), mirrored)
