"""Bahdanau (additive) attention: score = v . tanh(W_h enc + W_s s), PAD keys masked."""

from __future__ import annotations

import torch
from torch import nn

from revseq.conventions import MASKED_SCORE


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

    def attend(
        self, keys: torch.Tensor, enc: torch.Tensor, mask: torch.Tensor, query: torch.Tensor
    ):
        """Context [B, H] and weights [B, S] for the decoder state query [B, H].

        keys [B, S, H] is project_keys(enc), enc [B, S, H]; mask [B, S] is True at real tokens.
        """
        energy = torch.tanh(keys + self.W_s(query)[:, None, :])  # B x S x H
        scores = self.v(energy)[..., 0]  # B x S
        scores = torch.where(mask, scores, MASKED_SCORE)
        weights = torch.softmax(scores, dim=-1)
        context = torch.einsum("bs,bsh->bh", weights, enc)
        return context, weights
