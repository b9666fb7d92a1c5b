"""Attention ablation: greedy decoding with every step's attention weights fixed by a rule
instead of computed by the model, to measure what the model's own attention contributes.

The weights are built here once, as numpy, from the source batch, and fed to both backends
(revseq_jax.decode / revseq_torch.decode: greedy_decode_with_attention), so both use the
same ones. Conventions are revseq.report.metrics': an n-word source is n words then <EOS> (S real
positions n + 1, PAD after); decoder step t < n should emit word n-1-t.
"""

from __future__ import annotations

import numpy as np

from revseq.errors import RevseqError
from revseq.task.conventions import live_steps
from revseq.task.vocab import PAD

MODEL = "model"  # the model's own attention: plain greedy decoding
RULES = ("uniform", "mirror")  # the fixed rules
ATTENTION = (MODEL, *RULES)  # every value of the backends' `attention` argument


def check(attention: str, beam: int = 1) -> None:
    """Raise unless `attention` names a rule this package knows, and a fixed rule runs greedy."""
    if attention not in ATTENTION:
        raise RevseqError(f"attention must be one of {', '.join(ATTENTION)}, not {attention!r}")
    if attention != MODEL and beam != 1:
        raise RevseqError(f"attention {attention!r} decodes greedily; beam must be 1, not {beam}")


def fixed_weights(src: np.ndarray, rule: str, steps: int) -> np.ndarray:
    """Weights [B, steps, S] (float32) for a source batch src [B, S] under `rule`.

    "uniform": 1 / (n + 1) on each real source position (the n words and <EOS>), 0 on PAD.
    "mirror": a one-hot on the mirrored position: step t < n on word n-1-t, every later step
    on the source <EOS> (position n). An all-PAD row gets zeros under both rules.
    """
    check(rule)
    if rule == MODEL:
        raise RevseqError("the model's attention is not a fixed rule")
    src = np.asarray(src)
    S = src.shape[1]
    real = src != PAD
    if rule == "uniform":
        w = real / np.maximum(real.sum(axis=1, keepdims=True), 1)
        return np.repeat(w[:, None, :], steps, axis=1).astype(np.float32)
    n = real.sum(axis=1) - 1  # words before <EOS>; -1 for an all-PAD row
    t = np.arange(steps)[None, :]
    target = np.where(t < n[:, None], n[:, None] - 1 - t, n[:, None])  # [B, steps]
    w = (np.arange(S)[None, None, :] == target[..., None]) & (n >= 0)[:, None, None]
    return w.astype(np.float32)


def stop(tokens: np.ndarray, weights: np.ndarray, src: np.ndarray):
    """The greedy decoders' stop rule (revseq.task.conventions.live_steps) on a decoded batch:
    PAD tokens and zero weights after a row's first <EOS> or its step limit.

    tokens [B, T], weights [B, T, S], src [B, S] -> (tokens, weights), numpy.
    """
    tokens, weights, src = np.asarray(tokens), np.asarray(weights), np.asarray(src)
    live = live_steps(np, tokens, src)
    return np.where(live, tokens, PAD), np.where(live[..., None], weights, 0.0)
