"""The figure workers: they write what revseq.plots would write here, and a worker's error
reaches the caller."""

from __future__ import annotations

import numpy as np
import pytest

from revseq.painter import Painter, draw_now

HISTORY = [
    {"epoch": 1, "train_loss": 1.0, "val_loss": 0.9, "val_exact": 10.0, "val_alignment": 20.0},
    {"epoch": 2, "train_loss": 0.5, "val_loss": 0.4, "val_exact": 60.0, "val_alignment": 70.0},
]


def figures(out):
    """(function, args) of one heatmap and the two curves, into `out`."""
    weights = np.eye(3, dtype=np.float32)
    return [
        ("attention_heatmap", weights, ["a", "b", "<EOS>"], ["b", "a", "<EOS>"], out / "h.png"),
        ("loss_curve", HISTORY, out / "loss.png"),
        ("alignment_curve", HISTORY, out / "align.png"),
    ]


def test_workers_draw_what_this_process_draws(tmp_path):
    (tmp_path / "here").mkdir()
    (tmp_path / "workers").mkdir()
    for function, *args in figures(tmp_path / "here"):
        draw_now(function, *args)
    with Painter() as painter:
        for function, *args in figures(tmp_path / "workers"):
            painter.draw(function, *args)
        painter.wait()
        for name in ("h.png", "loss.png", "align.png"):  # written before wait() returns
            here, there = tmp_path / "here" / name, tmp_path / "workers" / name
            assert there.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert abs(there.stat().st_size - here.stat().st_size) < 0.05 * here.stat().st_size


def test_a_workers_error_is_raised_by_wait(tmp_path):
    with Painter(workers=1) as painter:
        painter.draw("loss_curve", [], tmp_path / "loss.png")  # no epochs: min() of nothing
        with pytest.raises(ValueError):
            painter.wait()
