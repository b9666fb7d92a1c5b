"""Settings for every test session (tests/ and parity_tests/).

Rank promotion raises, as in Equinox's tests: adding a [3H] bias to a [B, 3H] product must be
written as an explicit broadcast, so a silently broadcast shape bug fails the tests instead.
"""

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
