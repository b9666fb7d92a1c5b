"""Adam, global-norm clipping and a cosine schedule, written by hand as in the notebook.

Adam is a torch.optim.Optimizer whose step() holds the update, as torch.optim.Adam's does;
clip_grad_norm_ is torch.nn.utils.clip_grad_norm_'s contract. The formulas are
revseq_jax/optim.py's, and the tests check both against torch.optim.Adam and clip_grad_norm_.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

Schedule = Callable[[int], float]


def global_norm(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """L2 norm of all tensors taken together."""
    return torch.sqrt(sum((torch.sum(torch.square(t)) for t in tensors), torch.zeros(())))


@torch.no_grad()
def clip_grad_norm_(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale every .grad by max_norm / (norm + 1e-6) when that is below 1; returns the norm before.

    The norm is over all gradients together (clip_grad_norm_'s and the notebook's rule).
    """
    grads = [p.grad for p in parameters if p.grad is not None]
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


def linear_warmup(schedule: Schedule, peak_value: float, warmup_steps: int) -> Schedule:
    """count -> peak_value * count / warmup_steps for the first warmup_steps counts, then
    schedule(count - warmup_steps)."""

    def warm(count: int) -> float:
        if count < warmup_steps:
            return peak_value * count / warmup_steps
        return schedule(count - warmup_steps)

    return warm


class Adam(torch.optim.Optimizer):
    """Kingma & Ba, Algorithm 1, with bias correction: torch.optim.Adam without its options.

    Each parameter's state is torch's: "step", "exp_avg" (the first moment estimate) and
    "exp_avg_sq" (the second). Unlike torch.optim.Adam, a parameter whose .grad is None is
    stepped with a zero gradient, as a pytree optimizer (the JAX backend's) steps every leaf.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One update of every parameter from its .grad; returns closure()'s loss, if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            (b1, b2), eps, lr = group["betas"], group["eps"], group["lr"]
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                # Python floats are doubles: the corrections keep full precision in float64 runs.
                c1 = 1 - b1 ** state["step"]  # bias corrections
                c2 = 1 - b2 ** state["step"]
                g = torch.zeros_like(p) if p.grad is None else p.grad
                m = b1 * state["exp_avg"] + (1 - b1) * g  # first moment estimate
                v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g  # second moment estimate
                p.add_(-lr * ((m / c1) / (torch.sqrt(v / c2) + eps)))
                state["exp_avg"], state["exp_avg_sq"] = m, v
        return loss
