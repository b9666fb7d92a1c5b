"""A report folder: report.md with its figures — the attention heatmap the notebook asks for,
a gallery of four heatmaps, the loss and alignment curves — from a model's decoded sentences."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from revseq import checkpoint, report
from revseq.metrics import Decoded
from revseq.painter import Painter, draw_now
from revseq.probes import Evidence


def heatmap_example(items: Sequence[Decoded]) -> Decoded:
    """The first of the longest sentences: it shows the most of the pattern."""
    longest = max(len(d.source) for d in items)
    return next(d for d in items if len(d.source) == longest)


def gallery(ev: Evidence) -> dict[str, tuple[Decoded, str]]:
    """File name -> (sentence, what it shows): a correct one, a long one, a repeated-word
    one and a failure (from the test split, else the probes), when such a sentence exists."""
    correct = [d for d in ev.test if d.match]
    failures = [d for d in [*ev.test, *ev.unseen, *ev.repeats] if not d.match]
    picks = {
        "attention_correct.png": (correct[len(correct) // 2] if correct else None, "correct"),
        "attention_long.png": (heatmap_example(ev.unseen or ev.test), "the longest probe"),
        "attention_repeated.png": (
            next((d for d in ev.repeats if len(set(d.source)) == 2), None),
            "repeated words",
        ),
        "attention_failure.png": (failures[0] if failures else None, "a failure"),
    }
    return {name: (d, what) for name, (d, what) in picks.items() if d is not None}


def write(
    out: Path, ev: Evidence, history: list[dict], title: str, painter: Painter | None = None
) -> None:
    """report.md, attention_heatmap.png, the gallery's heatmaps, and (with a history)
    loss_curve.png and alignment_curve.png, into `out`: start, then complete."""
    start(out, ev.test, history, painter)
    complete(out, ev, history, title, painter)


def start(
    out: Path, test: Sequence[Decoded], history: list[dict], painter: Painter | None = None
) -> None:
    """The figures that need only the test split and the history: attention_heatmap.png and
    (with a history) loss_curve.png and alignment_curve.png, handed to the painter's workers
    (drawn while the probes decode), else drawn here."""
    draw = painter.draw if painter else draw_now
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    d = heatmap_example(test)
    _heatmap(draw, d, out / "attention_heatmap.png", f"Attention ({_verdict(d)})")
    if history:
        draw("loss_curve", history, out / "loss_curve.png")
        draw("alignment_curve", history, out / "alignment_curve.png")


def complete(
    out: Path,
    ev: Evidence,
    history: list[dict],
    title: str,
    painter: Painter | None = None,
    analysis: str | None = None,
) -> None:
    """The gallery's heatmaps and report.md (with the Part 4 analysis text when given, else
    computed), after start(); returns once every figure is written."""
    draw = painter.draw if painter else draw_now
    out = Path(out)
    captions = []
    for name, (d, what) in gallery(ev).items():
        _heatmap(draw, d, out / name, f"{what}: {_verdict(d)}")
        captions.append((name, f"**{what}**: `{' '.join(d.source)}` → `{' '.join(d.prediction)}`"))
    text = report.markdown(ev, title, history, captions, analysis)
    checkpoint.atomic_write(out / "report.md", text.encode())
    if painter:
        painter.wait()


def _heatmap(draw, d: Decoded, path: Path, title: str) -> None:
    """Draw d's attention, one row a decoder step run, one column a source token."""
    steps = [*d.prediction, "<EOS>"][: d.attention.shape[0]]
    draw("attention_heatmap", d.attention, [*d.source, "<EOS>"], steps, path, title)


def _verdict(d: Decoded) -> str:
    return "match" if d.match else "no match"
