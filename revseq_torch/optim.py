"""Adam, global-norm clipping and a cosine schedule, written by hand as in the notebook.

The formulas are revseq_jax/optim.py's; the shape is the notebook's AdamOptimizer: an object
over a fixed list of parameters that reads their .grad and updates them in place.
torch.optim appears only in the tests, as the thing these are checked against.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch

Schedule = Callable[[int], float]


def global_norm(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """L2 norm of all tensors taken together."""
    return torch.sqrt(sum(torch.sum(torch.square(t)) for t in tensors))


@torch.no_grad()
def clip_grad_norm(params: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale every .grad by max_norm / (norm + 1e-6) when that is below 1; returns the norm before.

    The norm is over all gradients together (clip_grad_norm_'s and the notebook's rule).
    """
    grads = [p.grad for p in params if p.grad is not None]
    norm = global_norm(grads)
    coef = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef.to(g.dtype))
    return norm


def cosine_decay_schedule(init_value: float, decay_steps: int) -> Schedule:
    """count -> init_value * (1 + cos(pi * min(count, decay_steps) / decay_steps)) / 2."""

    def schedule(count: int) -> float:
        frac = min(count, decay_steps) / decay_steps
        return init_value * 0.5 * (1.0 + math.cos(math.pi * frac))

    return schedule


class Adam:
    """Kingma & Ba, Algorithm 1, with bias correction, over a fixed list of parameters.

    lr is a constant or a schedule of the count of updates made before this one. A parameter
    whose .grad is None is stepped with a zero gradient, as a pytree optimizer would be.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float | Schedule,
        b1: float = 0.9,
        b2: float = 0.999,
        eps: float = 1e-8,
    ):
        self.params: Sequence[torch.Tensor] = list(params)
        self.lr = lr
        self.b1, self.b2, self.eps = b1, b2, eps
        self.count = 0
        self.mu = [torch.zeros_like(p) for p in self.params]
        self.nu = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        """Forget the gradients of the last backward pass."""
        for p in self.params:
            p.grad = None

    def learning_rate(self) -> float:
        """The step size the next update will take."""
        return self.lr(self.count) if callable(self.lr) else self.lr

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter from its .grad."""
        b1, b2, eps = self.b1, self.b2, self.eps
        lr = self.learning_rate()
        self.count += 1
        # Python floats are doubles: the corrections keep full precision in float64 runs.
        c1 = 1 - b1**self.count  # bias corrections
        c2 = 1 - b2**self.count
        for i, p in enumerate(self.params):
            g = torch.zeros_like(p) if p.grad is None else p.grad
            m = b1 * self.mu[i] + (1 - b1) * g  # first moment estimate
            v = b2 * self.nu[i] + (1 - b2) * g * g  # second moment estimate
            update = (m / c1) / (torch.sqrt(v / c2) + eps)
            p.add_(-lr * update)
            self.mu[i], self.nu[i] = m, v
