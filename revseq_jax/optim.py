"""Adam and global-norm clipping written by hand as pytree transforms, with optax's API.

A transform is init(params) -> state and update(updates, state, params) -> (updates, state),
so these drop into an optax chain and optax's into ours.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class GradientTransformation(NamedTuple):
    """A pair of pure functions, as optax.GradientTransformation."""

    init: Callable[[Any], Any]
    update: Callable[..., tuple[Any, Any]]


class EmptyState(NamedTuple):
    """State of a stateless transform."""


class ScaleByScheduleState(NamedTuple):
    """How many updates a schedule has scaled."""

    count: jax.Array  # type: ignore[assignment]  # optax's field name shadows tuple.count


class ScaleByAdamState(NamedTuple):
    """Step count and the first and second moment estimates."""

    count: jax.Array  # type: ignore[assignment]  # optax's field name shadows tuple.count
    mu: Any
    nu: Any


def global_norm(tree) -> jax.Array:
    """L2 norm of all leaves taken together."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree_util.tree_leaves(tree)))


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Scale updates by max_norm / (norm + 1e-6) when that is below 1 (clip_grad_norm_'s rule)."""

    def init_fn(params):
        del params
        return EmptyState()

    def update_fn(updates, state, params=None):
        del params
        coef = max_norm / (global_norm(updates) + 1e-6)
        coef = jnp.minimum(coef, 1.0)
        return jax.tree_util.tree_map(lambda g: g * coef.astype(g.dtype), updates), state

    return GradientTransformation(init_fn, update_fn)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """Kingma & Ba, Algorithm 1, with bias correction; the step size is applied by `scale`."""

    def init_fn(params):
        mu = jax.tree_util.tree_map(jnp.zeros_like, params)
        nu = jax.tree_util.tree_map(jnp.zeros_like, params)  # its own buffers: states are donated
        return ScaleByAdamState(jnp.zeros([], jnp.int32), mu, nu)

    def update_fn(updates, state, params=None):
        del params
        count = state.count + 1
        mu = jax.tree_util.tree_map(
            lambda m, g: b1 * m + (1 - b1) * g, state.mu, updates
        )  # first moment
        nu = jax.tree_util.tree_map(
            lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, updates
        )  # second
        updates = jax.tree_util.tree_map(
            # bias corrections in each leaf's own dtype, so float64 runs stay float64
            lambda m, v: (
                (m / (1 - b1 ** count.astype(m.dtype)))
                / (jnp.sqrt(v / (1 - b2 ** count.astype(v.dtype))) + eps)
            ),
            mu,
            nu,
        )
        return updates, ScaleByAdamState(count, mu, nu)

    return GradientTransformation(init_fn, update_fn)


def scale(step_size: float) -> GradientTransformation:
    """Multiply every update by a constant."""

    def init_fn(params):
        del params
        return EmptyState()

    def update_fn(updates, state, params=None):
        del params
        return jax.tree_util.tree_map(lambda g: step_size * g, updates), state

    return GradientTransformation(init_fn, update_fn)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply transforms in order; the state is the tuple of their states."""

    def init_fn(params):
        return tuple(t.init(params) for t in transforms)

    def update_fn(updates, state, params=None):
        new_state = []
        for t, s in zip(transforms, state, strict=True):
            updates, s = t.update(updates, s, params)
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformation(init_fn, update_fn)


def scale_by_schedule(step_size_fn: Callable[[jax.Array], jax.Array]) -> GradientTransformation:
    """Multiply updates by step_size_fn(count), count being the number of updates made before."""

    def init_fn(params):
        del params
        return ScaleByScheduleState(jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        del params
        step_size = step_size_fn(state.count)
        updates = jax.tree_util.tree_map(lambda g: step_size.astype(g.dtype) * g, updates)
        return updates, ScaleByScheduleState(state.count + 1)

    return GradientTransformation(init_fn, update_fn)


def cosine_decay_schedule(init_value: float, decay_steps: int) -> Callable[[jax.Array], jax.Array]:
    """init_value * (1 + cos(pi * min(count, decay_steps) / decay_steps)) / 2, as optax's."""

    def schedule(count):
        frac = jnp.minimum(count, decay_steps).astype(jnp.result_type(float)) / decay_steps
        return init_value * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))

    return schedule


def linear_warmup(
    schedule: float | Callable[[jax.Array], jax.Array], peak_value: float, warmup_steps: int
) -> Callable[[jax.Array], jax.Array]:
    """0 rising linearly to peak_value over warmup_steps counts, then schedule(count -
    warmup_steps) (a constant, or a schedule such as a cosine from peak_value): optax's
    join_schedules([linear_schedule(0, peak_value, warmup_steps), schedule], [warmup_steps])."""
    after = schedule if callable(schedule) else lambda count: jnp.asarray(schedule, float)

    def warm(count):
        ramp = peak_value * count.astype(jnp.result_type(float)) / warmup_steps
        return jnp.where(count < warmup_steps, ramp, after(jnp.maximum(count - warmup_steps, 0)))

    return warm


def apply_updates(params, updates):
    """params + updates, leaf by leaf."""
    return jax.tree_util.tree_map(lambda p, u: p + u.astype(p.dtype), params, updates)


def adam(
    learning_rate: float | Callable[[jax.Array], jax.Array],
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> GradientTransformation:
    """Adam: scale_by_adam then a step of -learning_rate (a constant or a schedule of the count)."""
    if callable(learning_rate):
        return chain(scale_by_adam(b1, b2, eps), scale_by_schedule(lambda c: -learning_rate(c)))
    return chain(scale_by_adam(b1, b2, eps), scale(-learning_rate))


def _is_counted(s) -> bool:
    return isinstance(s, (ScaleByAdamState, ScaleByScheduleState))


def find_adam_state(state) -> ScaleByAdamState:
    """The ScaleByAdamState inside a chain's state (for saving it)."""
    found = [s for s in jax.tree_util.tree_leaves(state, is_leaf=_is_counted) if _is_counted(s)]
    return next(s for s in found if isinstance(s, ScaleByAdamState))


def with_adam_state(state, adam: ScaleByAdamState):
    """A chain's state with its Adam state replaced and its schedule counts set to adam.count
    (both count the updates made), for restoring a saved run. Every count is its own buffer,
    as a donated state needs."""

    def replace(s):
        if isinstance(s, ScaleByAdamState):
            return adam
        if isinstance(s, ScaleByScheduleState):
            return ScaleByScheduleState(jnp.array(adam.count, copy=True))
        return s

    return jax.tree_util.tree_map(replace, state, is_leaf=_is_counted)
