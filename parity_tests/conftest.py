"""Fixtures of the parity suite (the helpers are in shared.py)."""

import contextlib

import jax
import numpy as np
import pytest
from shared import CONFIGS, TOL, Case, Mode, shared_weights


@pytest.fixture(
    params=[("float64", True), ("float64", False), ("float32", True), ("float32", False)],
    ids=["f64-jit", "f64-nojit", "f32-jit", "f32-nojit"],
)
def mode(request):
    """dtype x (jitted | jax.disable_jit()), with the dtype's tolerance."""
    dtype, jit = request.param
    with jax.enable_x64(dtype == "float64"), contextlib.nullcontext() if jit else jax.disable_jit():
        yield Mode(dtype, jit, TOL[dtype])


@pytest.fixture
def weights() -> dict[str, np.ndarray]:
    """Random float64 weights in the shared layout; PAD rows non-zero to prove they are unused."""
    return shared_weights()


@pytest.fixture(params=list(CONFIGS))
def case(request) -> Case:
    """Each attention the suite compares (shared.CONFIGS) with its shared weights."""
    cfg = CONFIGS[request.param]
    return Case(request.param, cfg, shared_weights(cfg))
