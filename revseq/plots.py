"""Attention heatmaps and loss curves, written as PNG files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns


def attention_heatmap(
    weights: np.ndarray,
    source: Sequence[str],
    steps: Sequence[str],
    path: Path,
    title: str = "Attention weights",
) -> None:
    """Heatmap of weights [decoder steps, encoder tokens]: x encoder tokens, y decoder steps."""
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(source), 1.0 + 0.5 * len(steps)))
    sns.heatmap(
        weights,
        xticklabels=list(source),
        yticklabels=list(steps),
        cmap="YlOrRd",
        vmin=0.0,
        vmax=1.0,
        ax=ax,
        cbar_kws={"label": "Attention weight"},
    )
    ax.set_xlabel("Encoder tokens (input)")
    ax.set_ylabel("Decoder steps (output)")
    ax.set_title(title)
    plt.xticks(rotation=45, ha="right")
    plt.yticks(rotation=0)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def loss_curve(history: Sequence[dict], path: Path) -> None:
    """Train and validation loss per epoch (log scale), the best epoch marked."""
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train (teacher forcing)")
    ax.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation (free running)")
    best = min(history, key=lambda h: h["val_loss"])
    ax.axvline(best["epoch"], color="grey", linestyle=":", label=f"best (epoch {best['epoch']})")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy per target token")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def alignment_curve(history: Sequence[dict], path: Path) -> None:
    """Validation alignment (attention peak on the mirrored word) and exact match per epoch."""
    rows = [h for h in history if "val_alignment" in h]
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [h["epoch"] for h in rows]
    ax.plot(epochs, [h["val_alignment"] for h in rows], marker="o", label="attention on mirror")
    ax.plot(epochs, [h["val_exact"] for h in rows], marker="o", label="exact match")
    ax.set_ylim(0, 100)
    ax.set_xlabel("epoch")
    ax.set_ylabel("% of validation word steps / sentences")
    ax.set_title("When the anti-diagonal forms")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
