"""Multi-layer GRU in PyTorch's gate form (r|z|n stacked), looped over time, padding-aware.

nn.GRU itself cannot hold a state still over PAD steps while also emitting zeros there (packing
gives the final state but not zero outputs), so this module keeps nn.GRU's parameter names,
shapes and initialisation and runs the recurrence itself, as revseq_jax/gru.py does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Dropout(nn.Dropout):
    """nn.Dropout drawing its masks from a given torch.Generator (None: torch's global one)."""

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None):
        super().__init__(p)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inverted dropout in train mode: each element zeroed with probability p, the rest
        scaled by 1 / (1 - p); the identity in eval mode or when p is 0."""
        if not self.training or self.p == 0:
            return x
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * keep.div_(1 - self.p)


def cell(xp: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor):
    """One step from the projected input xp [B, 3H] and state h [B, H] -> new state [B, H]."""
    hp = F.linear(h, w_hh, b_hh)  # B x 3H
    xr, xz, xn = xp.chunk(3, dim=-1)
    hr, hz, hn = hp.chunk(3, dim=-1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (1.0 - z) * n + z * h


class GRU(nn.Module):
    """Stacked GRU with nn.GRU's parameters (weight_ih_l0, weight_hh_l0, bias_ih_l0, ...).

    Dropout applies to the input of every layer but the first, as nn.GRU(dropout=...) does;
    its masks come from `generator` (None: torch's global one).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = Dropout(dropout, generator)
        H = hidden_size
        # Registered in nn.GRU's order, so a state_dict and the init's draws line up with it.
        for k in range(num_layers):
            in_k = input_size if k == 0 else H
            self.register_parameter(f"weight_ih_l{k}", nn.Parameter(torch.empty(3 * H, in_k)))
            self.register_parameter(f"weight_hh_l{k}", nn.Parameter(torch.empty(3 * H, H)))
            self.register_parameter(f"bias_ih_l{k}", nn.Parameter(torch.empty(3 * H)))
            self.register_parameter(f"bias_hh_l{k}", nn.Parameter(torch.empty(3 * H)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias U(-1/sqrt(H), 1/sqrt(H)), nn.GRU's default."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            nn.init.uniform_(w, -bound, bound)

    def layer_params(self, k: int) -> tuple[torch.Tensor, ...]:
        """(weight_ih, weight_hh, bias_ih, bias_hh) of layer k."""
        return tuple(
            getattr(self, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        )

    def layer(self, k: int, x: torch.Tensor, mask: torch.Tensor, h: torch.Tensor):
        """Run layer k over x [B, S, in]; where mask [B, S] is False the state is carried unchanged.

        Returns outputs [B, S, H] (zero at masked steps) and the last state [B, H].
        """
        w_ih, w_hh, b_ih, b_hh = self.layer_params(k)
        xp = F.linear(x, w_ih, b_ih)  # one matmul for all steps: B x S x 3H
        outputs = []
        for t in range(x.shape[1]):
            m_t = mask[:, t, None]  # B x 1
            h_new = cell(xp[:, t], h, w_hh, b_hh)
            h = torch.where(m_t, h_new, h)
            outputs.append(torch.where(m_t, h_new, 0.0))
        return torch.stack(outputs, dim=1), h

    def forward(self, x: torch.Tensor, mask: torch.Tensor, h0: torch.Tensor | None = None):
        """x [B, S, in], mask [B, S] (True = real) -> outputs [B, S, H], final states [L, B, H]."""
        B = x.shape[0]
        if h0 is None:
            h0 = x.new_zeros(self.num_layers, B, self.hidden_size)
        finals = []
        for k in range(self.num_layers):
            if k > 0:
                x = self.dropout(x)
            x, h = self.layer(k, x, mask, h0[k])
            finals.append(h)
        return x, torch.stack(finals)

    def step(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One time step of every layer: input x [B, in], states h [L, B, H] -> new states."""
        new = []
        for k in range(self.num_layers):
            if k > 0:
                x = self.dropout(x)
            w_ih, w_hh, b_ih, b_hh = self.layer_params(k)
            x = cell(F.linear(x, w_ih, b_ih), h[k], w_hh, b_hh)
            new.append(x)
        return torch.stack(new)
