"""flax as a third, independent oracle: the GRU of both backends (revseq_jax.gru and
revseq_torch.gru) against flax.linen.GRUCell for one step, and against flax.linen.RNN with
seq_lengths on a ragged batch (final state and outputs at real positions), layer by layer and
stacked. The weights are the encoder GRU's, mapped once by flax_oracle.to_flax_gru_params.
"""

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flax_oracle import layer_params
from shared import CFG, LENGTHS, assert_close, jax_params, torch_model

from revseq_jax import gru
from revseq_torch import gru as tgru

PREFIX = "encoder.gru."
L, H, WIDTH = CFG.num_layers, CFG.hidden_dim, 10
SEQ_LENGTHS = np.array(LENGTHS) + 1  # words then EOS; every row has padding after
MASK = np.arange(WIDTH)[None, :] < SEQ_LENGTHS[:, None]  # B x S, True = real
IMPLS = ["revseq_jax", "revseq_torch"]


def in_dim(k: int) -> int:
    return CFG.embed_dim if k == 0 else H


def inputs(mode, k: int, seed: int = 0):
    """A random input x [B, S, in] of layer k and a non-zero initial state h0 [L, B, H]."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(LENGTHS), WIDTH, in_dim(k))).astype(mode.dtype)
    h0 = rng.normal(size=(L, len(LENGTHS), H)).astype(mode.dtype)
    return x, h0


def flax_params(weights, mode, k: int) -> dict:
    """Layer k of the encoder GRU as flax GRUCell params in the mode's dtype."""
    return layer_params({k_: v.astype(mode.dtype) for k_, v in weights.items()}, PREFIX, k)


def flax_cell(mode) -> nn.GRUCell:
    return nn.GRUCell(features=H, dtype=mode.dtype, param_dtype=mode.dtype)


def flax_layer(weights, mode, k, x, h0, seq_lengths=SEQ_LENGTHS):
    """flax.linen.RNN over x [B, S, in] from h0 [B, H] -> (final carry [B, H], outputs)."""
    rnn = nn.RNN(flax_cell(mode), return_carry=True)
    fn = mode.jax_fn(
        lambda p, x, h0, n: rnn.apply({"params": {"cell": p}}, x, initial_carry=h0, seq_lengths=n)
    )
    return fn(flax_params(weights, mode, k), x, h0, seq_lengths)


def our_layer(impl, weights, mode, k, x, h0):
    """(outputs [B, S, H], final state [B, H]) of layer k by revseq_jax or revseq_torch."""
    if impl == "revseq_jax":
        p = jax_params(weights, mode)["encoder"]["gru"]
        fn = mode.jax_fn(lambda p, x, m, h: gru.layer(p, k, x, m, h))
        return fn(p, jnp.asarray(x), jnp.asarray(MASK), jnp.asarray(h0))
    with torch.no_grad():
        out, h = torch_model(weights, mode).encoder.gru.layer(
            k, torch.from_numpy(x), torch.from_numpy(MASK), torch.from_numpy(h0)
        )
    return out.numpy(), h.numpy()


@pytest.mark.parametrize("k", [0, 1])
@pytest.mark.parametrize("impl", IMPLS)
def test_one_cell_step_matches_flax_gru_cell(weights, mode, impl, k):
    x, h0 = inputs(mode, k)
    x, h = x[:, 0], h0[k]  # B x in, B x H
    if impl == "revseq_jax":
        p = jax_params(weights, mode)["encoder"]["gru"]
        step = mode.jax_fn(lambda p, x, h: gru.cell(p, k, gru.input_proj(p, k, x), h))
        ours = step(p, jnp.asarray(x), jnp.asarray(h))
    else:
        w_ih, w_hh, b_ih, b_hh = torch_model(weights, mode).encoder.gru.layer_params(k)
        with torch.no_grad():
            ours = tgru.cell(
                F.linear(torch.from_numpy(x), w_ih, b_ih), torch.from_numpy(h), w_hh, b_hh
            )
        ours = ours.numpy()
    step = mode.jax_fn(lambda p, h, x: flax_cell(mode).apply({"params": p}, h, x))
    carry, out = step(flax_params(weights, mode, k), h, x)
    assert np.asarray(carry).dtype == mode.dtype
    assert_close(f"{impl} cell l{k} vs flax GRUCell: new state", ours, carry, mode.tol)
    assert_close(f"flax GRUCell l{k}: output vs carry", out, carry, 0.0)


@pytest.mark.parametrize("k", [0, 1])
@pytest.mark.parametrize("impl", IMPLS)
def test_one_layer_on_a_ragged_batch_matches_flax_rnn_with_seq_lengths(weights, mode, impl, k):
    x, h0 = inputs(mode, k)
    out, h = our_layer(impl, weights, mode, k, x, h0[k])
    carry, ref = flax_layer(weights, mode, k, x, h0[k])
    assert_close(f"{impl} layer {k} vs flax RNN: final state", h, carry, mode.tol)
    assert_close(
        f"{impl} layer {k} vs flax RNN: outputs",
        np.asarray(out)[MASK],
        np.asarray(ref)[MASK],
        mode.tol,
    )
    assert (np.asarray(out)[~MASK] == 0).all(), f"{impl} layer {k}: outputs at PAD not 0"


@pytest.mark.parametrize("impl", IMPLS)
def test_the_stacked_gru_matches_stacked_flax_rnns(weights, mode, impl):
    """gru.gru / GRU.forward over L layers against L flax RNNs, each reading the last's outputs
    (flax's are not 0 at PAD, but a padded step only feeds later padded steps)."""
    x, h0 = inputs(mode, 0)
    if impl == "revseq_jax":
        p = jax_params(weights, mode)["encoder"]["gru"]
        out, h = mode.jax_fn(gru.gru)(p, jnp.asarray(x), jnp.asarray(MASK), jnp.asarray(h0))
    else:
        with torch.no_grad():
            out, h = torch_model(weights, mode).encoder.gru(
                torch.from_numpy(x), torch.from_numpy(MASK), torch.from_numpy(h0)
            )
        out, h = out.numpy(), h.numpy()
    ref = x
    for k in range(L):
        carry, ref = flax_layer(weights, mode, k, ref, h0[k])
        assert_close(f"{impl} vs flax: final state of layer {k}", np.asarray(h)[k], carry, mode.tol)
    assert_close(
        f"{impl} vs flax: top outputs", np.asarray(out)[MASK], np.asarray(ref)[MASK], mode.tol
    )


def test_seq_lengths_change_flax_final_state(weights, mode):
    """Guards the tests above: on this ragged batch the final state with seq_lengths differs
    from the state after all S steps, so carrying the state over PAD is really checked."""
    x, h0 = inputs(mode, 0)
    ragged, _ = flax_layer(weights, mode, 0, x, h0[0])
    full, _ = flax_layer(weights, mode, 0, x, h0[0], np.full(len(LENGTHS), WIDTH))
    assert (np.abs(np.asarray(ragged) - np.asarray(full)).max(axis=1) > 1e-2).all()
