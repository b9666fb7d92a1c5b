"""Fixtures of the parity suite (the helpers are in shared.py)."""

import numpy as np
import pytest
from shared import CONFIGS, F32, Case, in_mode, shared_weights


@pytest.fixture(params=["float64", pytest.param("float32", marks=F32)], ids=["f64-jit", "f32-jit"])
def mode(request):
    """dtype, JAX jitted, with the dtype's tolerance. test_layers.py adds the unjitted modes:
    whatever runs above the layers would only repeat them op by op, seconds a case."""
    yield from in_mode(request.param, jit=True)


@pytest.fixture
def weights() -> dict[str, np.ndarray]:
    """Random float64 weights in the shared layout; PAD rows non-zero to prove they are unused."""
    return shared_weights()


@pytest.fixture(params=list(CONFIGS))
def case(request) -> Case:
    """Each attention the suite compares (shared.CONFIGS) with its shared weights."""
    cfg = CONFIGS[request.param]
    return Case(request.param, cfg, shared_weights(cfg))
