"""Batched greedy decoding: tokens and attention, stopped per sentence at EOS, and the same
pass scored against references (validation)."""

from __future__ import annotations

import torch

from revseq.task import ablation
from revseq.task.conventions import EXTRA_STEPS, exact_and_aligned, live_steps
from revseq.task.vocab import PAD, SOS
from revseq_torch.losses import masked_cross_entropy
from revseq_torch.model import Seq2Seq, evaluating


def decode_and_score(model: Seq2Seq, src: torch.Tensor, tgt_out: torch.Tensor):
    """Greedy decoding of src [B, S], scored against tgt_out [B, S] (all PAD: nothing to score).

    Returns tokens [B, T] (PAD after EOS), attention [B, T, S] (0 there), T = S + EXTRA_STEPS,
    and sums {"loss_sum", "count", "exact", "aligned", "word_steps"}: the free-running NLL of
    the target tokens, their number, the rows whose greedy output equals the reference, and of
    the word-emitting steps run, those whose attention peaks on the mirrored source word. Runs
    in eval mode without autograd, whatever mode the model is in.
    """
    B, S = src.shape
    T = S + EXTRA_STEPS
    first = torch.full((B, T), PAD, dtype=src.dtype, device=src.device)
    first[:, 0] = SOS
    free = torch.zeros((B, T), dtype=torch.bool, device=src.device)
    with evaluating(model):
        logits, weights = model(src, first, free)
    tokens = logits.argmax(dim=-1).to(src.dtype)
    live = live_steps(torch, tokens, src)
    loss, count = masked_cross_entropy(logits[:, :S], tgt_out)
    sums = {"loss_sum": loss * count, "count": count}
    sums |= exact_and_aligned(torch, tokens, weights, src, tgt_out, live)
    return torch.where(live, tokens, PAD), torch.where(live[..., None], weights, 0.0), sums


def greedy_decode(model: Seq2Seq, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """src [B, S] -> tokens [B, T] (PAD after EOS), attention [B, T, S] (0 there)."""
    tokens, weights, _ = decode_and_score(model, src, torch.zeros_like(src))
    return tokens, weights


def greedy_decode_with_attention(model: Seq2Seq, src: torch.Tensor, rule: str):
    """Greedy decoding of src [B, S] with every step attending by `rule` (revseq.task.ablation:
    "uniform" or "mirror") instead of the model's attention -> numpy tokens [B, T] (PAD after
    EOS) and the weights used [B, T, S] (0 there), T = S + EXTRA_STEPS, as greedy_decode. A
    plain loop of model.decoder, in eval mode without autograd."""
    src_np = src.cpu().numpy()
    fixed_np = ablation.fixed_weights(src_np, rule, src.shape[1] + EXTRA_STEPS)
    with evaluating(model):
        fixed = torch.from_numpy(fixed_np).to(src.device)
        enc, h = model.encoder(src)
        h = model.decoder_start(h)
        keys = model.decoder.attention.project_keys(enc)
        mask = src != PAD
        a = model.initial_attention(mask, enc.dtype)
        y = torch.full(src.shape[:1], SOS, dtype=src.dtype, device=src.device)
        tokens = []
        for t in range(fixed.shape[1]):
            h, logits, w = model.decoder(h, y, keys, enc, mask, fixed[:, t], a)
            a = None if a is None else w
            y = logits.argmax(dim=-1).to(src.dtype)
            tokens.append(y)
    return ablation.stop(torch.stack(tokens, dim=1).cpu().numpy(), fixed_np, src_np)
