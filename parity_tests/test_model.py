"""The whole model: teacher-forced logits under a mixed forcing mask, loss, every gradient,
clipped gradients and one Adam update."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from shared import (
    CFG,
    assert_close,
    assert_close_dicts,
    jax_params,
    ragged_batch,
    torch_model,
)

from revseq.task.config import TrainConfig
from revseq_jax import model, optim
from revseq_jax import train as jtrain
from revseq_jax.losses import masked_cross_entropy
from revseq_torch import optim as toptim
from revseq_torch import train as ttrain
from revseq_torch.losses import masked_cross_entropy as torch_mce


def jax_loss(params, batch, cfg=CFG):
    logits, _ = model.forward(params, cfg, batch.src, batch.tgt_in, batch.force)
    return masked_cross_entropy(logits, batch.tgt_out)[0]


def torch_grads(module, batch):
    """(loss, {name: grad}) after one backward pass of the torch model."""
    t = ttrain.to_tensors(batch)
    logits, _ = module(t.src, t.tgt_in, t.force)
    loss, _ = torch_mce(logits, t.tgt_out)
    module.zero_grad()
    loss.backward()
    return loss, {k: p.grad.detach().numpy().copy() for k, p in module.named_parameters()}


def jax_grads(case, mode, batch):
    loss_grad = jax.value_and_grad(lambda p, b: jax_loss(p, b, case.cfg))
    loss, grads = mode.jax_fn(loss_grad)(jax_params(case.weights, mode, case.cfg), batch)
    return loss, model.flatten(grads)


@pytest.mark.parametrize("p_force", [0.0, 0.5, 1.0])
def test_teacher_forced_logits_and_attention(case, mode, p_force):
    b = ragged_batch(p_force=p_force)
    fwd = mode.jax_fn(lambda p, b: model.forward(p, case.cfg, b.src, b.tgt_in, b.force))
    logits_j, w_j = fwd(jax_params(case.weights, mode, case.cfg), b)
    t = ttrain.to_tensors(b)
    with torch.no_grad():
        logits_t, w_t = torch_model(case.weights, mode, case.cfg)(t.src, t.tgt_in, t.force)
    assert_close("logits", logits_j, mode.np(logits_t), mode.tol)
    assert_close("attention", w_j, mode.np(w_t), mode.tol)


def test_loss_and_the_gradient_of_every_parameter(case, mode):
    b = ragged_batch()
    loss_j, grads_j = jax_grads(case, mode, b)
    loss_t, grads_t = torch_grads(torch_model(case.weights, mode, case.cfg), b)
    assert_close("loss", loss_j, mode.np(loss_t), mode.tol)
    assert_close_dicts(grads_j, grads_t, mode.tol, "grad ")
    for name in ("W_h", "F", "U") if case.cfg.attention == "location" else ("W_h",):
        assert float(np.abs(grads_j[f"decoder.attention.{name}.weight"]).max()) > 0


def test_clipped_gradients(case, mode):
    b = ragged_batch()
    _, grads_j = jax_grads(case, mode, b)
    module = torch_model(case.weights, mode, case.cfg)
    torch_grads(module, b)
    norm = float(optim.global_norm(grads_j))
    max_norm = norm / 3  # clipping must act
    clipped_j, _ = optim.clip_by_global_norm(max_norm).update(grads_j, optim.EmptyState())
    norm_t = toptim.clip_grad_norm_(module.parameters(), max_norm)
    assert_close("norm", norm, mode.np(norm_t), mode.tol)
    clipped_t = {k: p.grad.detach().numpy() for k, p in module.named_parameters()}
    assert_close_dicts(clipped_j, clipped_t, mode.tol, "clipped ")


# the second tier: twenty steps of Adam (test_train.py) and the optimizers' own suite
# (test_optim.py) hold the first's
@pytest.mark.integration
def test_one_adam_update(case, mode):
    b = ragged_batch()
    weights = case.weights
    cfg = TrainConfig(lr=1e-2, lr_schedule="constant", max_norm=0.5)
    tx = jtrain.make_optimizer(cfg, steps_per_epoch=1)
    params = jax_params(weights, mode, case.cfg)
    grads = mode.jax_fn(jax.grad(lambda p, b: jax_loss(p, b, case.cfg)))(params, b)
    updates, _ = mode.jax_fn(tx.update)(grads, tx.init(params), params)
    new_j = model.flatten(optim.apply_updates(params, updates))
    module = torch_model(weights, mode, case.cfg)
    opt = ttrain.make_optimizer(cfg, module.parameters())
    torch_grads(module, b)
    toptim.clip_grad_norm_(module.parameters(), cfg.max_norm)
    opt.step()
    new_t = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    assert_close_dicts(new_j, new_t, mode.tol, "updated ")
    moved = max(float(jnp.abs(new_j[k] - weights[k]).max()) for k in new_j)
    assert moved > 1e-3, "the update must move the parameters"
