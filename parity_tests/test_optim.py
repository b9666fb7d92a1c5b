"""The hand-written optimizers against each other and against optax and torch.optim.

One recorded sequence of real gradients (from training the model) is fed to four
implementations of clip-by-global-norm then Adam: revseq_jax.optim, optax, revseq_torch.optim
and torch.optim.Adam(foreach=False) with torch.nn.utils.clip_grad_norm_.
"""

import functools

import jax
import numpy as np
import optax
import pytest
import torch
from shared import CFG, TOL, Mode, assert_close_dicts, jax_params, ragged_batch, shared_weights

from revseq_jax import model, optim
from revseq_jax.losses import masked_cross_entropy
from revseq_torch import optim as toptim

CFG_STEPS, LR, MAX_NORM = 30, 1e-2, 0.3


@pytest.fixture(scope="module")
def recorded():
    """dtype -> the shared weights and the gradients of 30 real training steps, computed
    jitted on first use of the dtype (the first tier runs float64 alone)."""

    @functools.cache
    def get(dtype: str):
        with jax.enable_x64(dtype == "float64"):
            arrays = shared_weights()
            return arrays, recorded_gradients(arrays, Mode(dtype, True, TOL[dtype]))

    return get


def recorded_gradients(weights, mode):
    """Gradients of 30 real training steps (optax's Adam drives the trajectory)."""

    def loss(p, b):
        logits, _ = model.forward(p, CFG, b.src, b.tgt_in, b.force)
        return masked_cross_entropy(logits, b.tgt_out)[0]

    grad = jax.jit(jax.grad(loss))
    params = jax_params(weights, mode)
    tx = optax.adam(LR)
    state = tx.init(params)
    out = []
    for s in range(CFG_STEPS):
        g = grad(params, ragged_batch(seed=s))
        out.append(model.flatten(g))
        u, state = tx.update(g, state, params)
        params = optax.apply_updates(params, u)
    return out


def run_ours(weights, grads, mode):
    """revseq_jax.optim as training runs it: update then optim.apply_updates in one step,
    jitted (eager under disable_jit); params and state keep their shapes and dtypes (weak
    types included), as a jitted training loop needs to run without recompiling."""
    tx = optim.chain(optim.clip_by_global_norm(MAX_NORM), optim.adam(LR))

    def step(params, state, g):
        u, state = tx.update(g, state, params)
        return optim.apply_updates(params, u), state

    step = mode.jax_fn(step)
    params = jax_params(weights, mode)
    state = tx.init(params)
    before = avals((params, state))
    for g in grads:
        params, state = step(params, state, model.unflatten(g))
    after = avals((params, state))
    assert after == before, [(k, before[k], after[k]) for k in before if after[k] != before[k]]
    return {k: np.asarray(v) for k, v in model.flatten(params).items()}


def avals(tree) -> dict:
    """{pytree path: (shape, dtype, weak_type)} of every leaf."""
    return {
        jax.tree_util.keystr(k): (v.shape, v.dtype, v.weak_type)
        for k, v in jax.tree_util.tree_leaves_with_path(tree)
    }


def run_optax(weights, grads, mode):
    """The same with optax's own transforms and apply_updates, eagerly."""
    tx = optax.chain(optax.clip_by_global_norm(MAX_NORM), optax.adam(LR))
    params = jax_params(weights, mode)
    state = tx.init(params)
    for g in grads:
        u, state = tx.update(model.unflatten(g), state, params)
        params = optax.apply_updates(params, u)
    return {k: np.asarray(v) for k, v in model.flatten(params).items()}


def run_torch(weights, grads, mode, reference: bool):
    params = {k: torch.tensor(v.astype(mode.dtype), requires_grad=True) for k, v in weights.items()}
    if reference:  # the same calls, torch's own implementations
        opt = torch.optim.Adam(params.values(), lr=LR, betas=(0.9, 0.999), eps=1e-8, foreach=False)
        clip = functools.partial(torch.nn.utils.clip_grad_norm_, foreach=False)
    else:
        opt = toptim.Adam(params.values(), lr=LR, betas=(0.9, 0.999), eps=1e-8)
        clip = toptim.clip_grad_norm_
    for g in grads:
        for k, p in params.items():
            p.grad = torch.tensor(np.asarray(g[k]))
        clip(params.values(), MAX_NORM)
        opt.step()
    return {k: p.detach().numpy() for k, p in params.items()}


def test_four_implementations_of_clip_then_adam_agree(recorded, mode):
    weights, grads = recorded(mode.dtype)
    norms = [float(optim.global_norm(g)) for g in grads]
    assert min(norms) < MAX_NORM < max(norms), "the sequence must cross the clipping threshold"
    ours_jax = run_ours(weights, grads, mode)
    ours_torch = run_torch(weights, grads, mode, reference=False)
    torch_ref = run_torch(weights, grads, mode, reference=True)
    optax_ref = run_optax(weights, grads, mode)
    assert_close_dicts(ours_jax, ours_torch, mode.tol, "revseq_jax vs revseq_torch: ")
    assert_close_dicts(ours_torch, torch_ref, mode.tol, "revseq_torch vs torch.optim: ")
    # optax clips by max_norm / norm, the notebook and torch by max_norm / (norm + 1e-6): a
    # relative difference of 1e-6 / norm in clipped steps, which Adam's normalisation damps.
    assert_close_dicts(ours_jax, optax_ref, max(mode.tol, 1e-6), "revseq_jax vs optax: ")


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_warmup_schedules_agree_with_each_other_and_optax(schedule):
    """The rate at every count: revseq_jax's and revseq_torch's linear warm-up, then cosine or
    constant, against optax's warmup_cosine_decay_schedule and join_schedules."""
    from revseq.task.config import TrainConfig
    from revseq_jax import train as jtrain
    from revseq_torch import train as ttrain

    cfg = TrainConfig(lr=2e-2, lr_schedule=schedule, warmup=8, steps=64)
    ours_jax, ours_torch = jtrain.learning_rate(cfg, 32), ttrain.learning_rate(cfg, 32)
    ramp = optax.linear_schedule(0.0, 2e-2, 8)
    ref = (optax.warmup_cosine_decay_schedule(0.0, 2e-2, 8, 64) if schedule == "cosine" else
           optax.join_schedules([ramp, optax.constant_schedule(2e-2)], [8]))  # fmt: skip
    for count in range(70):
        r = float(ref(count))
        assert float(ours_jax(np.int32(count))) == pytest.approx(r, rel=1e-6, abs=1e-9), count
        assert ours_torch(count) == pytest.approx(r, rel=1e-6, abs=1e-9), count
