"""Masked cross-entropy: the mean over non-PAD target tokens of the batch."""

from __future__ import annotations

import torch

from revseq.task.vocab import PAD


def token_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log p(target) per position: logits [B, T, V], targets [B, T] -> [B, T]."""
    logp = torch.log_softmax(logits, dim=-1)
    return -torch.gather(logp, -1, targets[..., None].long())[..., 0]


def masked_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean NLL over non-PAD targets, number of them); a batch of only PAD gives loss 0."""
    mask = targets != PAD
    count = mask.sum()
    # where, not a multiply by the mask: a PAD position's NLL may be inf, and inf * 0 is NaN.
    total = torch.where(mask, token_nll(logits, targets), 0.0).sum()
    return total / count.clamp(min=1), count
