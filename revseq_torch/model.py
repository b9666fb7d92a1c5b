"""Encoder, decoder step and the forward pass of the attention seq2seq, as nn.Modules.

The state_dict keys and shapes are exactly revseq.task.layout.param_shapes(cfg), the notebook's
names, so weights move between backends by name. The modules mirror revseq_jax.model's
functions: Encoder ~ encode, Decoder (one step) ~ decoder_step, Seq2Seq ~ forward. Dropout
draws its masks from the torch.Generator the model is built with (None: torch's global one).
Shapes: B batch, S source length, T target length, E embedding, H hidden, V vocabulary.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from revseq.task.config import ModelConfig
from revseq.task.conventions import initial_attention
from revseq.task.init import init_params as shared_init
from revseq.task.vocab import PAD
from revseq_torch.attention import make_attention
from revseq_torch.gru import GRU, Dropout


def embed(embedding: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
    """ids [...] -> [..., E], zero at PAD whatever the table's PAD row holds.

    padding_idx alone only keeps the PAD row from learning; a loaded table may hold anything
    there, and revseq_jax.model.embed zeroes PAD positions, so this does too.
    """
    return torch.where((ids == PAD)[..., None], 0.0, embedding(ids))


class Encoder(nn.Module):
    """Embedding, dropout, then a padding-aware GRU."""

    def __init__(self, cfg: ModelConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=PAD)
        self.gru = GRU(cfg.embed_dim, cfg.hidden_dim, cfg.num_layers, cfg.dropout, generator)
        self.dropout = Dropout(cfg.dropout, generator)

    def forward(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src [B, S] -> outputs [B, S, H] (0 at PAD), final states [L, B, H]; PAD steps skip."""
        x = self.dropout(embed(self.embedding, src))  # B x S x E
        return self.gru(x, src != PAD)


class Decoder(nn.Module):
    """Embedding, attention over the encoder outputs, a GRU fed [embedding; context], fc; with
    decoder_init "learned", the first state h0 [L, H] (the module's own parameter, so first in
    its state_dict)."""

    def __init__(self, cfg: ModelConfig, generator: torch.Generator | None = None):
        super().__init__()
        # Registration order is the notebook's state_dict order.
        if cfg.decoder_init == "learned":
            self.h0 = nn.Parameter(torch.zeros(cfg.num_layers, cfg.hidden_dim))
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=PAD)
        self.attention = make_attention(cfg)
        self.gru = GRU(
            cfg.embed_dim + cfg.hidden_dim, cfg.hidden_dim, cfg.num_layers, cfg.dropout, generator
        )
        self.fc = nn.Linear(cfg.hidden_dim, cfg.vocab_size)
        self.dropout = Dropout(cfg.dropout, generator)

    def forward(
        self,
        h: torch.Tensor,
        y_prev: torch.Tensor,
        keys: torch.Tensor,
        enc: torch.Tensor,
        mask: torch.Tensor,
        fixed: torch.Tensor | None = None,
        a_prev: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step: h [L, B, H], previous token y_prev [B] -> (h, logits [B, V], attn [B, S]).

        The context comes from the previous top-layer state; the GRU reads [embedding; context].
        keys [B, S, H] is attention.project_keys(enc), enc [B, S, H], mask [B, S] True = real.
        fixed [B, S], if given, replaces the step's attention weights (revseq.task.ablation).
        a_prev [B, S]: location attention's previous weights (None for bahdanau).
        """
        emb = self.dropout(embed(self.embedding, y_prev))  # B x E
        context, weights = self.attention.attend(keys, enc, mask, h[-1], a_prev)
        if fixed is not None:
            weights = fixed.to(weights.dtype)
            context = torch.einsum("bs,bsh->bh", weights, enc)
        h = self.gru.step(torch.cat([emb, context], dim=-1), h)
        return h, self.fc(h[-1]), weights


class Seq2Seq(nn.Module):
    """The encoder-decoder; forward runs T decoder steps under a given forcing mask. Its
    encoder and decoder are called directly for decoding (revseq_torch.decode, .beam)."""

    def __init__(self, cfg: ModelConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg, generator)
        self.decoder = Decoder(cfg, generator)

    def decoder_start(self, h: torch.Tensor) -> torch.Tensor:
        """The decoder's first states [L, B, H] from the encoder's final states h [L, B, H]:
        those (decoder_init "encoder", the notebook's), zeros, or the learned decoder.h0."""
        if self.cfg.decoder_init == "zeros":
            return torch.zeros_like(h)
        if self.cfg.decoder_init == "learned":
            return self.decoder.h0[:, None, :].expand(h.shape).to(h.dtype)
        return h

    def initial_attention(self, mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor | None:
        """Location attention's previous weights for the first step [B, S] (the config's
        attention_prior); None for bahdanau."""
        if self.cfg.attention != "location":
            return None
        ones = torch.ones(mask.shape, dtype=dtype, device=mask.device)
        return initial_attention(torch, mask, self.cfg.attention_prior, ones)

    def forward(
        self, src: torch.Tensor, tgt_in: torch.Tensor, force: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits [B, T, V] and attention [B, T, S] over T decoder steps.

        Step t reads tgt_in[:, t] where force[:, t] is True, else its own previous argmax; step 0
        always reads tgt_in[:, 0] (SOS). Dropout is active in train mode only.
        """
        enc, h = self.encoder(src)
        h = self.decoder_start(h)
        keys = self.decoder.attention.project_keys(enc)  # once, not per step
        mask = src != PAD
        a = self.initial_attention(mask, enc.dtype)
        pred = tgt_in[:, 0]
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):
            y = torch.where(force[:, t], tgt_in[:, t], pred)
            h, step_logits, step_weights = self.decoder(h, y, keys, enc, mask, a_prev=a)
            a = None if a is None else step_weights
            pred = step_logits.argmax(dim=-1).to(tgt_in.dtype)
            logits.append(step_logits)
            weights.append(step_weights)
        return torch.stack(logits, dim=1), torch.stack(weights, dim=1)


def build(cfg: ModelConfig, generator: torch.Generator | None = None) -> Seq2Seq:
    """An untrained Seq2Seq whose weights are about to be loaded, its dropout drawing from
    `generator`; torch's global generator, which module construction draws from, is left as
    it was."""
    with torch.random.fork_rng(devices=[]):
        return Seq2Seq(cfg, generator)


def load_params(module: Seq2Seq, arrays: dict[str, np.ndarray]) -> Seq2Seq:
    """Copy flat {state_dict name: array} into module, every name and shape checked."""
    module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()})
    return module


def init_params(cfg: ModelConfig, seed: int = 0) -> Seq2Seq:
    """A Seq2Seq holding the run's initial weights for this seed (revseq.task.init, the one
    initialiser both backends share)."""
    return load_params(build(cfg), shared_init(cfg, seed))


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no autograd inside the block; the previous mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield model
    finally:
        model.train(was_training)
