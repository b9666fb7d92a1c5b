"""Beam search: equal tokens, close log-probabilities and attention, for widths 1, 3 and 5,
ranked by the raw sum and with a length penalty."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from shared import assert_close, jax_params, ragged_batch, steer_location, torch_model

from revseq.task.vocab import EOS, PAD
from revseq_jax import beam as jbeam
from revseq_torch import beam as tbeam

# Added to the EOS logit so that, on random weights, hypotheses end at different steps and the
# length penalty changes which one is best (without it none ends before the step limit); per
# attention (location's weights steered as shared.steer_location says).
EOS_BIAS = {"bahdanau": 0.5, "location": 0.2}


def eos_biased(case) -> dict:
    """The case's shared weights with EOS_BIAS added to the decoder's EOS bias."""
    weights = case.weights if case.name == "bahdanau" else steer_location(case.weights)
    bias = weights["decoder.fc.bias"].copy()
    bias[EOS] += EOS_BIAS[case.name]
    return weights | {"decoder.fc.bias": bias}


def both(case, mode, beam: int, length_penalty: float):
    """(JAX jitted, torch) beam search results on the ragged batch: tokens, log_prob, attention."""
    src, weights, cfg = ragged_batch().src, eos_biased(case), case.cfg
    out_j = jbeam.beam_search(
        jax_params(weights, mode, cfg), cfg, jnp.asarray(src), beam, length_penalty
    )
    out_t = tbeam.beam_search(
        torch_model(weights, mode, cfg), torch.from_numpy(src), beam, length_penalty
    )
    return out_j, out_t


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
@pytest.mark.parametrize("beam", [1, 3, 5])
def test_beam_search_tokens_equal_and_scores_and_attention_close(case, mode, beam, length_penalty):
    (tokens_j, logp_j, w_j), (tokens_t, logp_t, w_t) = both(case, mode, beam, length_penalty)
    np.testing.assert_array_equal(np.asarray(tokens_j), tokens_t.numpy())
    assert_close("beam log_prob", logp_j, mode.np(logp_t), mode.tol)
    assert_close("beam attention", w_j, mode.np(w_t), mode.tol)
    assert np.asarray(tokens_j).dtype == np.int32 and np.asarray(logp_j).dtype == mode.dtype


def test_the_cases_above_end_hypotheses_early_and_the_penalty_changes_the_choice(case, mode):
    """Guards the table above: on these weights some hypotheses stop before the step limit, and
    the length penalty picks a different hypothesis for some sentence."""
    raw = np.asarray(both(case, mode, 3, 0.0)[0][0])
    penalised = np.asarray(both(case, mode, 3, 1.0)[0][0])
    assert (raw == EOS).any() and (raw != penalised).any(axis=1).any()
    assert ((raw != PAD).sum(axis=1) != (penalised != PAD).sum(axis=1)).any()
