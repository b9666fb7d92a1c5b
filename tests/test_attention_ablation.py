"""The attention ablation's fixed weights and stop rule on literal batches, and a decoder step
given fixed weights reading exactly the encoder output they point at (both backends)."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import random_params

from revseq.errors import RevseqError
from revseq.task.ablation import fixed_weights, stop
from revseq_jax import model as jmodel
from revseq_torch import model as tmodel

# Two sources: "w w w <EOS> PAD" (n = 3) and "w <EOS> PAD PAD PAD" (n = 1), and an all-PAD row.
SRC = np.array([[5, 6, 7, 2, 0], [8, 2, 0, 0, 0], [0, 0, 0, 0, 0]], np.int32)


def test_uniform_spreads_over_the_real_positions_only():
    w = fixed_weights(SRC, "uniform", 6)
    assert w.shape == (3, 6, 5) and w.dtype == np.float32
    np.testing.assert_allclose(w[0, 0], [0.25, 0.25, 0.25, 0.25, 0])
    np.testing.assert_allclose(w[1, 5], [0.5, 0.5, 0, 0, 0])
    assert not w[2].any()


def test_mirror_is_a_one_hot_on_the_mirrored_word_then_on_eos():
    w = fixed_weights(SRC, "mirror", 6)
    assert w[0].argmax(axis=-1).tolist() == [2, 1, 0, 3, 3, 3]
    assert w[1].argmax(axis=-1).tolist() == [0, 1, 1, 1, 1, 1]
    assert (w[:2].sum(axis=-1) == 1).all() and not w[2].any()


def test_unknown_rules_and_a_beam_are_refused():
    with pytest.raises(RevseqError, match="attention must be one of"):
        fixed_weights(SRC, "diagonal", 6)
    with pytest.raises(RevseqError, match="not a fixed rule"):
        fixed_weights(SRC, "model", 6)


def test_stop_cuts_after_eos_and_after_the_length_limit():
    src = SRC[:2, :3]  # "5 6 7" (3 real, no room for more) and "8 <EOS>" (2 real)
    tokens = np.array([[4, 2, 4, 4, 4, 4, 4], [4] * 7])  # T = S + EXTRA_STEPS: limit real + 4
    weights = np.ones((2, 7, 3), np.float32)
    t, w = stop(tokens, weights, src)
    assert t.tolist() == [[4, 2, 0, 0, 0, 0, 0], [4, 4, 4, 4, 4, 4, 0]]
    assert w.sum(axis=(1, 2)).tolist() == [6.0, 18.0]


def _one_hot_and_masked(S=5, k=1):
    """A one-hot on position k for each row, and a mask keeping only k (the model's own
    softmax is then that one-hot too: every other score is -1e10)."""
    fixed = np.zeros((3, S), np.float32)
    fixed[:, k] = 1.0
    return fixed, fixed.astype(bool)


def test_jax_decoder_step_with_fixed_weights_reads_the_encoder_output_they_point_at(small_cfg):
    params = random_params(small_cfg, 0)
    src = jnp.asarray(SRC[:, :4].clip(4))  # every position real
    enc, h = jmodel.encode(params, small_cfg, src)
    fixed, only_k = _one_hot_and_masked(S=4)
    y = jnp.full((3,), 1, jnp.int32)
    mem = jmodel.prepare_memory(params, small_cfg, enc, src != 0)
    _, logits, w = jmodel.decoder_step(params, small_cfg, h, y, mem, fixed=jnp.asarray(fixed))
    ref_mem = jmodel.prepare_memory(params, small_cfg, enc, jnp.asarray(only_k))
    _, ref_logits, ref_w = jmodel.decoder_step(params, small_cfg, h, y, ref_mem)
    np.testing.assert_array_equal(np.asarray(w), fixed)
    np.testing.assert_allclose(np.asarray(ref_w), fixed, atol=1e-6)
    np.testing.assert_allclose(np.asarray(logits), np.asarray(ref_logits), atol=1e-5)
    plain = jmodel.decoder_step(params, small_cfg, h, y, mem)[1]
    assert np.abs(np.asarray(plain) - np.asarray(logits)).max() > 1e-4  # it did change


def test_torch_decoder_step_with_fixed_weights_reads_the_encoder_output_they_point_at(
    small_cfg,
):
    m = tmodel.init_params(small_cfg, 0).eval()
    src = torch.from_numpy(SRC[:, :4].clip(4))
    fixed, only_k = _one_hot_and_masked(S=4)
    y = torch.full((3,), 1)
    with torch.no_grad():
        enc, h = m.encoder(src)
        keys = m.decoder.attention.project_keys(enc)
        _, logits, w = m.decoder(h, y, keys, enc, src != 0, torch.from_numpy(fixed))
        _, ref_logits, ref_w = m.decoder(h, y, keys, enc, torch.from_numpy(only_k))
        plain = m.decoder(h, y, keys, enc, src != 0)[1]
    assert torch.equal(w, torch.from_numpy(fixed))
    torch.testing.assert_close(ref_w, torch.from_numpy(fixed), atol=1e-6, rtol=0)
    torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=0)
    assert (plain - logits).abs().max() > 1e-4
