"""Additive attention: score = v . tanh(W_h enc + W_s s [+ U (F * a_prev)]), PAD keys masked.

BahdanauAttention is the notebook's; LocationAttention adds the location term of Chorowski et
al. (2015), a 1-D convolution F over the previous step's weights a_prev, projected by U
(revseq_jax.attention says it in full).
"""

from __future__ import annotations

import torch
from torch import nn

from revseq.task.config import ModelConfig
from revseq.task.conventions import MASKED_SCORE


class BahdanauAttention(nn.Module):
    """W_h, W_s [H, H] and v [1, H], all without bias (the notebook's names)."""

    def __init__(self, hidden_dim: int):
        super().__init__()
        self.W_h = nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.W_s = nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.v = nn.Linear(hidden_dim, 1, bias=False)

    def project_keys(self, enc: torch.Tensor) -> torch.Tensor:
        """W_h enc, once per batch rather than once per decoder step: [B, S, H] -> [B, S, H]."""
        return self.W_h(enc)

    def location_term(self, a_prev: torch.Tensor | None) -> torch.Tensor | None:
        """The energy's term from the previous weights: none in Bahdanau attention."""
        return None

    def attend(
        self,
        keys: torch.Tensor,
        enc: torch.Tensor,
        mask: torch.Tensor,
        query: torch.Tensor,
        a_prev: torch.Tensor | None = None,
    ):
        """Context [B, H] and weights [B, S] for the decoder state query [B, H].

        keys [B, S, H] is project_keys(enc), enc [B, S, H]; mask [B, S] is True at real tokens;
        a_prev [B, S] the previous step's weights (read by LocationAttention only).
        """
        pre = keys + self.W_s(query)[:, None, :]  # B x S x H
        loc = self.location_term(a_prev)
        energy = torch.tanh(pre if loc is None else pre + loc)
        scores = self.v(energy)[..., 0]  # B x S
        scores = torch.where(mask, scores, MASKED_SCORE)
        weights = torch.softmax(scores, dim=-1)
        context = torch.einsum("bs,bsh->bh", weights, enc)
        return context, weights


class LocationAttention(BahdanauAttention):
    """Bahdanau's W_h, W_s, v, plus F (nn.Conv1d(1, k, width), no bias) and U [H, k]."""

    def __init__(self, hidden_dim: int, filters: int, width: int):
        super().__init__(hidden_dim)
        self.F = nn.Conv1d(1, filters, width, padding=width // 2, bias=False)
        self.U = nn.Linear(filters, hidden_dim, bias=False)

    def location_term(self, a_prev: torch.Tensor | None) -> torch.Tensor:
        """U (F * a_prev): a_prev [B, S] -> [B, S, H]."""
        assert a_prev is not None, "location attention reads the previous step's weights"
        f = self.F(a_prev[:, None, :]).transpose(1, 2)  # B x S x k
        return self.U(f)


def make_attention(cfg: ModelConfig) -> BahdanauAttention:
    """The attention cfg.attention names."""
    if cfg.attention == "location":
        return LocationAttention(cfg.hidden_dim, cfg.location_filters, cfg.location_width)
    return BahdanauAttention(cfg.hidden_dim)
