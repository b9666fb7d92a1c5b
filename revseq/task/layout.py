"""The parameter layout both backends share: the notebook's state_dict names and shapes."""

from __future__ import annotations

import math

from revseq.errors import RevseqError
from revseq.task.config import ModelConfig


def _gru(prefix: str, input_dim: int, cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    H = cfg.hidden_dim
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(cfg.num_layers):
        shapes[f"{prefix}.weight_ih_l{k}"] = (3 * H, input_dim if k == 0 else H)
        shapes[f"{prefix}.weight_hh_l{k}"] = (3 * H, H)
        shapes[f"{prefix}.bias_ih_l{k}"] = (3 * H,)
        shapes[f"{prefix}.bias_hh_l{k}"] = (3 * H,)
    return shapes


def _decoder_start(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The learned first decoder state (decoder_init "learned"); the decoder's own parameter,
    so first in its state_dict."""
    return {"decoder.h0": (cfg.num_layers, cfg.hidden_dim)} if cfg.decoder_init == "learned" else {}


def _location(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Location attention's convolution F [k, 1, width] (nn.Conv1d's layout) and U [H, k]."""
    if cfg.attention != "location":
        return {}
    k = cfg.location_filters
    return {
        "decoder.attention.F.weight": (k, 1, cfg.location_width),
        "decoder.attention.U.weight": (cfg.hidden_dim, k),
    }


def param_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape for every parameter, in the notebook's state_dict order."""
    V, E, H = cfg.vocab_size, cfg.embed_dim, cfg.hidden_dim
    return {
        "encoder.embedding.weight": (V, E),
        **_gru("encoder.gru", E, cfg),
        **_decoder_start(cfg),
        "decoder.embedding.weight": (V, E),
        "decoder.attention.W_h.weight": (H, H),
        "decoder.attention.W_s.weight": (H, H),
        "decoder.attention.v.weight": (1, H),
        **_location(cfg),
        **_gru("decoder.gru", E + H, cfg),
        "decoder.fc.weight": (V, H),
        "decoder.fc.bias": (V,),
    }


def infer_config(shapes: dict[str, tuple[int, ...]], dropout: float = 0.0) -> ModelConfig:
    """The ModelConfig whose layout has these shapes (for importing a bare state_dict)."""
    V, E = shapes["encoder.embedding.weight"]
    H = shapes["decoder.attention.W_h.weight"][0]
    L = sum(1 for k in shapes if k.startswith("encoder.gru.weight_ih_l"))
    return ModelConfig(vocab_size=V, embed_dim=E, hidden_dim=H, num_layers=L, dropout=dropout)


def check_shapes(arrays: dict, cfg: ModelConfig) -> None:
    """RevseqError unless `arrays` has exactly the layout's names, each with its shape."""
    expected = param_shapes(cfg)
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    if missing or unexpected:
        raise RevseqError(
            f"parameters do not match the config: missing {missing}, unexpected {unexpected}"
        )
    for name, shape in expected.items():
        if tuple(arrays[name].shape) != shape:
            raise RevseqError(f"{name} has shape {tuple(arrays[name].shape)}, config needs {shape}")


def param_count(cfg: ModelConfig) -> int:
    """How many numbers the model's parameters hold."""
    return sum(math.prod(shape) for shape in param_shapes(cfg).values())
