"""What the benchmark needs to know of PyTorch: its matmul rate (it never compiles)."""

from __future__ import annotations

import torch

from revseq.benchmark import median_seconds


def compilations() -> int:
    """Eager PyTorch compiles nothing."""
    return 0


def matmul_seconds(m: int, k: int, n: int, repeats: int = 50) -> float:
    """Median time of one float32 [m, k] @ [k, n], over 16 chained products per call."""
    a = torch.full((m, k), 0.01)
    w = torch.full((k, n), 0.01)

    def chain():
        with torch.no_grad():
            x = a
            for _ in range(16):
                x = (x @ w)[:, :k] if n >= k else x @ w
        return x

    chain()
    return median_seconds(chain, repeats) / 16


def train_step_shapes(backend) -> int:
    """Eager PyTorch compiles no shapes."""
    return 0
