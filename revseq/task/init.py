"""Initial weights of a run, drawn in numpy from its seed with PyTorch's default initialisers.

Both backends start a run from these arrays, so a seed names one experiment whichever
framework carries it out (each backend's own init stays for use on its own).
"""

from __future__ import annotations

import numpy as np

from revseq.task.config import ModelConfig
from revseq.task.layout import param_shapes
from revseq.task.vocab import PAD


def init_params(cfg: ModelConfig, seed: int) -> dict[str, np.ndarray]:
    """{state_dict name: float32 array}: embeddings N(0, 1) with PAD rows zero (nn.Embedding),
    GRU weights U(+-1/sqrt(H)) (nn.GRU), linear and convolution weights and biases
    U(+-1/sqrt(fan_in)) (nn.Linear, nn.Conv1d), the learned first decoder state U(+-1/sqrt(H))."""
    rng = np.random.default_rng([seed, 0x1A17])
    shapes = param_shapes(cfg)
    out = {}
    for name, shape in shapes.items():
        if name.endswith("embedding.weight"):
            w = rng.standard_normal(shape)
            w[PAD] = 0.0
        else:
            fan_in = (
                cfg.hidden_dim if ".gru." in name else shapes[name.replace(".bias", ".weight")][-1]
            )
            bound = fan_in**-0.5
            w = rng.uniform(-bound, bound, shape)
        out[name] = w.astype(np.float32)
    return out
