"""A report folder: report.md with its figures — the attention heatmap the notebook asks for,
a gallery of four heatmaps, the loss and alignment curves — from a model's decoded sentences."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from revseq.files import atomic_write
from revseq.report import markdown, trained_range
from revseq.report.probes import Evidence
from revseq.task.decoded import Decoded


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
    out: Path,
    ev: Evidence,
    history: list[dict],
    *,
    steps: Sequence[dict] = (),
    title: str,
    about: str = "",
    analysis: str | None = None,
) -> None:
    """report.md (its title, then `about`: what made the model and the report; with the Part 4
    analysis text when given, else computed),
    attention_heatmap.png, the gallery's heatmaps, and (with a history) loss_curve.png and
    alignment_curve.png, into `out`."""
    from revseq.report import plots  # matplotlib: imported only by what draws

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    d = heatmap_example(ev.test)
    _heatmap(d, out / "attention_heatmap.png", f"Attention ({_verdict(d)})")
    if history:
        plots.loss_curve(history, steps, out / "loss_curve.png")
        plots.alignment_curve(history, out / "alignment_curve.png")
    captions = []
    for name, (d, what) in gallery(ev).items():
        _heatmap(d, out / name, f"{what}: {_verdict(d)}")
        captions.append((name, f"**{what}**: `{' '.join(d.source)}` → `{' '.join(d.prediction)}`"))
    trained_range.write(out, ev)
    text = markdown.markdown(
        ev, title, history, gallery=captions, about=about, analysis_text=analysis
    )
    atomic_write(out / "report.md", text.encode())


def _heatmap(d: Decoded, path: Path, title: str) -> None:
    """Draw d's attention, one row a decoder step run, one column a source token."""
    from revseq.report import plots

    steps = [*d.prediction, "<EOS>"][: d.attention.shape[0]]
    plots.attention_heatmap(d.attention, source=[*d.source, "<EOS>"], steps=steps, path=path,
                            title=title)  # fmt: skip


def _verdict(d: Decoded) -> str:
    return "match" if d.match else "no match"
