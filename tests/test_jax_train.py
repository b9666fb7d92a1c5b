"""The JAX training loop: a chunk of steps in one compiled call equals the steps one by one."""

import dataclasses

import jax
import numpy as np
import pytest
from helpers import ragged_src

from revseq.batching import Batch
from revseq.config import TrainConfig
from revseq.vocab import PAD, SOS
from revseq_jax import model, train


def toy_batch(seed: int, width: int = 7) -> Batch:
    tgt_out = ragged_src([3, 5, 2, 6], width=width, seed=seed + 1)
    tgt_in = np.concatenate([np.full((4, 1), SOS, np.int32), tgt_out[:, :-1]], axis=1)
    tgt_in[tgt_out == PAD] = PAD
    force = np.random.default_rng(seed).random(tgt_out.shape) < 0.5
    return Batch(ragged_src([3, 5, 2, 6], width=width, seed=seed), tgt_in, tgt_out, force)


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_a_chunk_of_steps_equals_the_steps_one_by_one(small_cfg, dropout):
    """Five batches (two of another length) through train_epoch in chunks of 3 (so one chunk
    is padded with dead steps) give the state of five single train_step calls."""
    cfg = dataclasses.replace(small_cfg, dropout=dropout)
    tx = train.make_optimizer(TrainConfig(lr=1e-2, lr_schedule="cosine", epochs=1), 5)
    params = model.init_params(jax.random.key(0), cfg)
    key = jax.random.key(7)
    bs = [toy_batch(0), toy_batch(1), toy_batch(2, 9), toy_batch(3, 9), toy_batch(4)]

    step = train.make_train_step(cfg, tx)
    one = train.init_state(params, tx)
    total = 0.0
    for b in bs:
        one, m = step(one, b, key)
        total += float(m["loss_sum"])
    chunked, metrics = train.train_epoch(
        train.make_train_chunk(cfg, tx), train.init_state(params, tx), bs, key, size=3
    )
    assert int(chunked.step) == int(one.step) == 5
    np.testing.assert_allclose(metrics["loss_sum"], total, rtol=1e-5)
    for (path, a), b in zip(
        jax.tree_util.tree_leaves_with_path(chunked), jax.tree_util.tree_leaves(one), strict=True
    ):
        np.testing.assert_allclose(a, b, atol=1e-6, err_msg=jax.tree_util.keystr(path))


def test_chunks_stack_runs_of_one_shape_and_mark_the_padding_dead():
    bs = [toy_batch(0), toy_batch(1), toy_batch(2, 9), toy_batch(3)]
    out = train.chunks(bs, 2)
    assert [s.src.shape for s, _ in out] == [(2, 4, 7), (2, 4, 9), (2, 4, 7)]
    assert [live.tolist() for _, live in out] == [[True, True], [True, False], [True, False]]
    assert (out[1][0].src[1] == PAD).all() and not out[1][0].force[1].any()
