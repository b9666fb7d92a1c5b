"""Settings for every test session (tests/ and parity_tests/), on whatever device JAX picks.

Rank promotion raises, as in Equinox's tests: adding a [3H] bias to a [B, 3H] product must be
written as an explicit broadcast, so a silently broadcast shape bug fails the tests instead.

Float32 matmuls run at full precision where numbers are compared: JAX's default on TPUs is
bfloat16 passes and on recent NVIDIA GPUs TF32, either of which misses the suites' 1e-5 by
orders of magnitude while the implementation is right; torch's TF32 is turned off likewise.
Cases in float64 are skipped, with the reason, on a platform without float64 (TPU).
"""

import jax
import pytest
import torch

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_default_matmul_precision", "highest")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

HAS_FLOAT64 = jax.default_backend() != "tpu"


def pytest_collection_modifyitems(items):
    """Skip JAX float64 cases (marked `float64`, or parity cases with "f64" in their id) on a
    platform without float64."""
    if HAS_FLOAT64:
        return
    skip = pytest.mark.skip(reason=f"no float64 on {jax.default_backend()}")
    for item in items:
        if "f64" in item.name or item.get_closest_marker("float64"):
            item.add_marker(skip)
