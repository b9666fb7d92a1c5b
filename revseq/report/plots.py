"""Attention heatmaps and loss curves, written as PNG files.

Figures are made with matplotlib's object API (`Figure`, no pyplot), so drawing needs no GUI
backend and changes no matplotlib setting of the process that imports this module.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from revseq.files import atomic_write


def _save(fig: Figure, path: Path) -> None:
    """The figure as a PNG file, written atomically (a crash leaves the old file or none)."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    atomic_write(Path(path), buffer.getvalue())


def attention_heatmap(
    weights: np.ndarray,
    *,
    source: Sequence[str],
    steps: Sequence[str],
    path: Path,
    title: str = "Attention weights",
) -> None:
    """Heatmap of weights [decoder steps, encoder tokens]: x encoder tokens, y decoder steps."""
    _save(_heatmap_figure(weights, source=source, steps=steps, title=title), path)


def _heatmap_figure(weights, *, source: Sequence[str], steps: Sequence[str], title: str) -> Figure:
    """The figure of attention_heatmap, not yet saved."""
    fig = Figure(figsize=(1.0 + 0.6 * len(source), 1.0 + 0.5 * len(steps)))
    ax = fig.subplots()
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
    ax.tick_params(axis="x", labelrotation=45)
    ax.tick_params(axis="y", labelrotation=0)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    return fig


def loss_curve(history: Sequence[dict], steps: Sequence[dict], path: Path) -> None:
    """Training loss per compiled call (steps.jsonl) and validation loss after each epoch
    (metrics.jsonl), against the run's step, ticked at whole epochs; log scale, the best epoch
    marked. A run without the step rows (older ones) is drawn per epoch."""
    ends = [h.get("step", h["epoch"]) for h in history]  # an epoch's last step
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    if steps:
        ax.plot([r["step"] for r in steps], [r["loss"] for r in steps], linewidth=1,
                label="train (teacher forcing), per call")  # fmt: skip
    else:
        ax.plot(
            ends, [h["train_loss"] for h in history], marker="o", label="train (teacher forcing)"
        )
    ax.plot(ends, [h["val_loss"] for h in history], "o", label="validation (free running)")
    best = min(history, key=lambda h: h["val_loss"])
    ax.axvline(best.get("step", best["epoch"]), color="grey", linestyle=":",
               label=f"best (epoch {best['epoch']})")  # fmt: skip
    ax.set_xticks(ends, [str(h["epoch"]) for h in history])
    ax.set_yscale("log")
    ax.set_xlabel("end of epoch")
    ax.set_ylabel("cross-entropy per target token")
    ax.set_title("Loss over training")
    ax.legend()
    _save(fig, path)


def alignment_curve(history: Sequence[dict], path: Path) -> None:
    """Validation alignment (attention peak on the mirrored word) and exact match per epoch."""
    rows = [h for h in history if "val_alignment" in h]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    epochs = [h["epoch"] for h in rows]
    ax.plot(epochs, [h["val_alignment"] for h in rows], marker="o", label="attention on mirror")
    ax.plot(epochs, [h["val_exact"] for h in rows], marker="o", label="exact match")
    ax.set_ylim(0, 100)
    ax.set_xlabel("epoch")
    ax.set_ylabel("% of validation word steps / sentences")
    ax.set_title("When the anti-diagonal forms")
    ax.legend()
    _save(fig, path)
