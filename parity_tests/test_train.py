"""Twenty full training steps in each backend: the loss of every step and the final params,
under the default schedule and under a warm-up."""

import dataclasses

import jax
import numpy as np
from shared import (
    CFG,
    Case,
    assert_close,
    assert_close_dicts,
    in_mode,
    jax_params,
    ragged_batch,
    shared_weights,
    torch_losses,
    torch_model,
)

from revseq.task.config import TrainConfig
from revseq_jax import model
from revseq_jax import train as jtrain

STEPS = 20
TRAIN = TrainConfig(epochs=1, lr=1e-2, lr_schedule="cosine", max_norm=0.33)
# The large-batch recipe's schedule: the rate rises from 0 over the first steps.
WARM = dataclasses.replace(TRAIN, lr=2e-2, warmup=6)


def test_twenty_training_steps(case, mode):
    twenty_steps(case, mode, TRAIN)


def test_twenty_training_steps_with_warmup():
    for mode in in_mode("float64", jit=True):
        twenty_steps(Case("bahdanau", CFG, shared_weights()), mode, WARM)


def twenty_steps(case: Case, mode, TRAIN: TrainConfig) -> None:
    """Both backends train 20 steps from the case's weights: every loss and the final params
    within the mode's tolerance."""
    batches = [ragged_batch(seed=s) for s in range(STEPS)]

    tx = jtrain.make_optimizer(TRAIN, STEPS)
    step = jtrain.make_train_step(case.cfg, tx)  # jitted
    state = jtrain.init_state(jax_params(case.weights, mode, case.cfg), tx)
    key = jax.random.key(0)
    losses_j, norms = [], []
    for b in batches:
        state, m = step(state, b, key)
        losses_j.append(float(m["loss_sum"] / m["count"]))
        norms.append(float(m["grad_norm"]))
    module = torch_model(case.weights, mode, case.cfg)
    losses_t = torch_losses(module, batches, TRAIN, STEPS)
    if mode.jit:
        assert min(norms) < TRAIN.max_norm < max(norms), "steps on both sides of the clip"
        assert losses_j[-1] < losses_j[0]
    for i, (a, b) in enumerate(zip(losses_j, losses_t, strict=True)):
        assert_close(f"loss at step {i}", a, b, mode.tol)
    final_t = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    assert_close_dicts(
        model.flatten(state.params), final_t, mode.tol, f"after {len(batches)} steps: "
    )
    assert np.isfinite(losses_j).all()
