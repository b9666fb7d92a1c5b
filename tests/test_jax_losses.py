"""Masked cross-entropy ignores PAD targets and is the mean over real tokens."""

import jax
import jax.numpy as jnp
import numpy as np

from revseq.task.vocab import PAD
from revseq_jax.losses import masked_cross_entropy


def test_loss_is_the_mean_nll_of_non_pad_targets_and_ignores_pad_logits():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 7)).astype(np.float32)
    targets = np.array([[4, 5, 2, PAD], [6, 2, PAD, PAD]], np.int32)
    loss, count = masked_cross_entropy(jnp.asarray(logits), jnp.asarray(targets))
    logp = np.asarray(jax.nn.log_softmax(logits))
    real = [(b, t) for b in range(2) for t in range(4) if targets[b, t] != PAD]
    expected = -np.mean([logp[b, t, targets[b, t]] for b, t in real])
    assert int(count) == 5
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6)
    changed = logits.copy()
    changed[targets == PAD] = 100.0
    np.testing.assert_allclose(
        float(masked_cross_entropy(jnp.asarray(changed), jnp.asarray(targets))[0]),
        float(loss),
        rtol=1e-6,
    )


def test_all_pad_batch_gives_zero_loss_not_nan():
    loss, count = masked_cross_entropy(jnp.zeros((2, 3, 5)), jnp.zeros((2, 3), jnp.int32))
    assert float(loss) == 0.0 and int(count) == 0
