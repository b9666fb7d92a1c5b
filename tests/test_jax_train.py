"""The JAX training loop: a chunk of steps in one compiled call equals the steps one by one;
a non-finite step is refused; a saved training state goes on exactly."""

import dataclasses

import jax
import numpy as np
import pytest
from helpers import ragged_src, random_params

from revseq.task.batching import Batch
from revseq.task.config import Config, TrainConfig
from revseq.task.vocab import PAD, SOS
from revseq_jax import train
from revseq_jax.backend import Backend


def toy_batch(seed: int, width: int = 7) -> Batch:
    tgt_out = ragged_src([3, 5, 2, 6], width=width, seed=seed + 1)
    tgt_in = np.concatenate([np.full((4, 1), SOS, np.int32), tgt_out[:, :-1]], axis=1)
    tgt_in[tgt_out == PAD] = PAD
    force = np.random.default_rng(seed).random(tgt_out.shape) < 0.5
    return Batch(ragged_src([3, 5, 2, 6], width=width, seed=seed), tgt_in, tgt_out, force)


@pytest.mark.parametrize("dropout", [0.0, pytest.param(0.2, marks=pytest.mark.integration)])
def test_a_chunk_of_steps_equals_the_steps_one_by_one(small_cfg, dropout):
    """Five batches through train_epoch in chunks of 3 (so the second chunk is padded with a
    dead step) give the state of five single train_step calls. (One length: that chunks hold
    one length each is test_chunks_stack_runs_of_one_shape_and_mark_the_padding_dead's, and
    each length more costs two compiles here.)"""
    cfg = dataclasses.replace(small_cfg, dropout=dropout)
    tx = train.make_optimizer(TrainConfig(lr=1e-2, lr_schedule="cosine", epochs=1), 5)
    params = random_params(cfg, 0)
    key = jax.random.key(7)
    bs = [toy_batch(i) for i in range(5)]

    step = train.make_train_step(cfg, tx)
    one = train.init_state(params, tx)
    total = 0.0
    for b in bs:
        one, m = step(one, b, key)
        total += float(m["loss_sum"])
    chunked, metrics = train.train_epoch(
        train.make_train_chunk(cfg, tx), train.init_state(params, tx), bs, key=key, size=3
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


@pytest.mark.parametrize("skip", [False, True])
def test_a_nonfinite_step_changes_nothing_and_halts_the_rest_unless_skipping(small_cfg, skip):
    """Word 11's encoder embedding is NaN, so only the batch that reads it has a NaN loss:
    that step is refused and counted; without skip every later step is refused too."""
    tx = train.make_optimizer(TrainConfig(lr=1e-2, lr_schedule="constant"), 4)
    params = random_params(small_cfg, 0)
    emb = params["encoder"]["embedding"]
    emb["weight"] = emb["weight"].at[11].set(np.nan)
    key = jax.random.key(7)
    clean = []
    for seed in (0, 1, 3):
        b = toy_batch(seed)
        clean.append(b._replace(src=np.where(b.src == 11, 10, b.src)))
    bad = toy_batch(2)
    bad.src[0, 0] = 11
    bs = [clean[0], clean[1], bad, clean[2]]

    state, m = train.train_epoch(
        train.make_train_chunk(small_cfg, tx, skip_nonfinite=skip),
        train.init_state(params, tx),
        bs,
        key=key,
        size=4,
    )
    applied = [clean[0], clean[1], clean[2]] if skip else [clean[0], clean[1]]
    step, expected = train.make_train_step(small_cfg, tx), train.init_state(params, tx)
    for b in applied:
        expected, _ = step(expected, b, key)
    assert (m["updates"], m["nonfinite"], m["batches"]) == (len(applied), 1, 4)
    assert int(state.step) == len(applied) and int(state.nonfinite) == 1
    assert np.isfinite(m["loss_sum"]) and np.isfinite(m["grad_norm"])
    for (path, a), b in zip(
        jax.tree_util.tree_leaves_with_path(state.params),
        jax.tree_util.tree_leaves(expected.params),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, atol=1e-6, err_msg=jax.tree_util.keystr(path))


@pytest.mark.integration  # the second tier: the first keeps its budget
def test_a_saved_state_restored_by_a_new_backend_goes_on_exactly(small_cfg):
    cfg = Config(
        model=dataclasses.replace(small_cfg, dropout=0.2),
        train=TrainConfig(epochs=2, lr=1e-2, lr_schedule="cosine", seed=5, chunk=2),
    )
    bs = [toy_batch(s) for s in range(3)]
    backend = Backend(cfg, steps_per_epoch=3)
    state, _ = backend.train_epoch(backend.init(), bs)
    saved = backend.snapshot(state)
    assert saved["step"] == saved["adam.count"] == 3 and saved["nonfinite"] == 0
    state, m = backend.train_epoch(state, bs)
    other = Backend(cfg, steps_per_epoch=3)
    resumed, m2 = other.train_epoch(other.restore(saved), bs)
    assert m2 == m
    for k, v in other.snapshot(resumed).items():
        np.testing.assert_array_equal(v, backend.snapshot(state)[k], err_msg=k)
