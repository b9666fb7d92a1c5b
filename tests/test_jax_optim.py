"""Hand-written transforms: the clip formula, and Adam + clipping against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import ragged_src, random_params

from revseq_jax import model, optim
from revseq_jax.losses import masked_cross_entropy


@pytest.mark.parametrize("norm", [0.5, 1.0, 3.0])
def test_clip_scales_by_max_norm_over_norm_plus_eps_only_when_below_one(norm):
    g = {"a": jnp.array([norm * 0.6]), "b": jnp.array([[norm * 0.8]])}  # global norm == norm
    clipped, _ = optim.clip_by_global_norm(1.0).update(g, optim.EmptyState())
    coef = 1.0 / (norm + 1e-6)
    expected = coef if coef < 1 else 1.0
    for k in g:
        np.testing.assert_allclose(np.asarray(clipped[k]), np.asarray(g[k]) * expected, rtol=1e-6)
    assert float(optim.global_norm(clipped)) == pytest.approx(min(norm, norm * coef), rel=1e-6)


@pytest.mark.integration  # the second tier: the first keeps its budget
def test_clip_plus_adam_equals_optax_for_50_steps_of_real_training(small_cfg):
    """Record the gradients of 50 real training steps, then feed the same sequence to both."""
    src = jnp.asarray(ragged_src([3, 5, 7, 2], vocab_size=12))
    tgt = jnp.asarray(ragged_src([3, 5, 7, 2], vocab_size=12, seed=1))
    force = jnp.asarray(np.random.default_rng(0).random(src.shape) < 0.5)

    def loss(p):
        logits, _ = model.forward(p, small_cfg, src, tgt, force)
        return masked_cross_entropy(logits, tgt)[0]

    grad = jax.jit(jax.grad(loss))
    params0 = random_params(small_cfg, 3)
    ours = optim.chain(optim.clip_by_global_norm(0.3), optim.adam(1e-2))

    @jax.jit
    def step(p, s, g):  # ours as training runs it: jitted, with our own apply_updates
        u, s = ours.update(g, s, p)
        return optim.apply_updates(p, u), s

    p, s, grads = params0, ours.init(params0), []
    for _ in range(50):
        grads.append(grad(p))
        p, s = step(p, s, grads[-1])
    norms = [float(optim.global_norm(g)) for g in grads]
    assert min(norms) < 0.3 < max(norms), "the sequence must exercise both sides of the clip"

    ref = optax.chain(optax.clip_by_global_norm(0.3), optax.adam(1e-2))
    q, r = params0, ref.init(params0)
    for g in grads:
        u, r = ref.update(g, r, q)
        q = optax.apply_updates(q, u)
    diffs = jax.tree_util.tree_map(lambda a, b: float(jnp.abs(a - b).max()), p, q)
    worst = max(jax.tree_util.tree_leaves_with_path(diffs), key=lambda kv: kv[1])
    # optax clips by max_norm / norm, we by max_norm / (norm + 1e-6): Adam's normalisation
    # nearly cancels that factor, so the parameters agree to float32 rounding.
    assert worst[1] < 2e-6, f"{jax.tree_util.keystr(worst[0])}: max abs diff {worst[1]:.3g}"


def test_cosine_schedule_matches_optax():
    ours = optim.cosine_decay_schedule(3e-3, 100)
    ref = optax.cosine_decay_schedule(3e-3, 100)
    for count in (0, 1, 50, 99, 100, 150):
        assert float(ours(jnp.asarray(count))) == pytest.approx(
            float(ref(count)), rel=1e-5, abs=1e-12
        )
