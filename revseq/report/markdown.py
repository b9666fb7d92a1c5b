"""report.md and the printed test output: the examples in the notebook's format, the accuracy
line, the tables, and the analysis (revseq.report.analysis) in its place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from revseq.report.analysis import (
    analysis,
    attention_role,
    num,
    pct,
    rate_of,
    rule_verdict,
    summarise,
)
from revseq.report.metrics import (
    accuracy_by_length,
    attention_by_position,
    attention_stats,
    error_analysis,
    exact_match,
    token_accuracy,
    token_accuracy_by_length,
)
from revseq.report.probes import PER_LENGTH, Evidence
from revseq.task.config import Config
from revseq.task.decoded import Decoded


def example(i: int, d: Decoded) -> str:
    """One example in the notebook's format."""
    return (
        f"Example {i}:\n"
        f"  Input:      {' '.join(d.source)}\n"
        f"  Output:     {' '.join(d.prediction)}\n"
        f"  Reference:  {' '.join(d.reference)}\n"
        f"  Status:     {'✓ MATCH' if d.match else '✗ NO MATCH'}\n"
    )


def examples(items: Sequence[Decoded], count: int = 10) -> str:
    """The first `count` examples."""
    return "\n".join(example(i + 1, d) for i, d in enumerate(items[:count]))


def accuracy_line(items: Sequence[Decoded]) -> str:
    """`Exact Match Accuracy: XX.XX% (correct/total)`."""
    correct, total = exact_match(items)
    rate = f"{100.0 * correct / total:.2f}%" if total else "n/a"
    return f"Exact Match Accuracy: {rate} ({correct}/{total})"


def by_length_table(items: Sequence[Decoded]) -> str:
    """Markdown table of exact match and token accuracy per source length."""
    tokens = token_accuracy_by_length(items)
    rows = ["| words | sentences | exact match | token accuracy |", "|---:|---:|---:|---:|"]
    for n, (c, t) in accuracy_by_length(items).items():
        rows.append(f"| {n} | {t} | {rate_of(c, t)} | {rate_of(*tokens[n])} |")
    return "\n".join(rows)


def errors_table(slices: Mapping[str, Sequence[Decoded]]) -> str:
    """Markdown table: per slice, how many sentences are wrong and how."""
    stats = {name: error_analysis(items) for name, items in slices.items()}
    rows = [
        "| | " + " | ".join(stats) + " |",
        "|---" * (len(stats) + 1) + "|",
        "| sentences | " + " | ".join(str(len(slices[k])) for k in stats) + " |",
    ]
    labels = {
        "wrong": "wrong",
        "repeated": "a word repeated more than in the reference",
        "skipped": "a reference word missing",
        "too_short": "fewer words than the reference",
        "too_long": "more words than the reference",
    }
    for key, label in labels.items():
        rows.append(f"| {label} | " + " | ".join(str(e[key]) for e in stats.values()) + " |")
    for key, label in (
        ("first_error", "first wrong output position (from the start)"),
        ("first_error_from_end", "first wrong position from the end (1 = last word, 0 = <EOS>)"),
    ):
        cells = [
            ", ".join(f"{k}: {v}" for k, v in list(e[key].items())[:8]) or "-"
            for e in stats.values()
        ]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def attention_table(items: Sequence[Decoded]) -> str:
    """Markdown table of attention statistics by decoder position (word-emitting steps)."""
    rows = [
        "| decoder step | steps | peak on the mirrored word | entropy (0 one-hot, 1 uniform) "
        "| weight on source <EOS> |",
        "|---:|---:|---:|---:|---:|",
    ]
    for t, r in attention_by_position(items).items():
        rows.append(
            f"| {t} | {r['steps']} | {pct(r['mirror_share'])} | {num(r['entropy'])} "
            f"| {num(r['eos_mass'])} |"
        )
    return "\n".join(rows)


def training_table(history: Sequence[dict]) -> str:
    """Markdown table of validation exact match and alignment per epoch."""
    rows = ["| epoch | val loss | val exact | val alignment |", "|---:|---:|---:|---:|"]
    for h in history:
        align = f"{h['val_alignment']:.1f} %" if "val_alignment" in h else "n/a"
        rows.append(f"| {h['epoch']} | {h['val_loss']:.4f} | {h['val_exact']:.2f} % | {align} |")
    return "\n".join(rows)


def ablation_table(ablation: dict[str, tuple[int, int]]) -> str:
    """Markdown table of test exact match under each attention rule (revseq.task.ablation)."""
    if not ablation:
        return "Not measured."
    labels = {
        "model": "the model's own",
        "uniform": "uniform over the source words and <EOS>",
        "mirror": "a one-hot on the mirrored word (then on <EOS>)",
    }
    rows = ["| attention at every decoder step | exact match |", "|---|---:|"]
    for rule, label in labels.items():
        c, t = ablation[rule]
        rows.append(f"| {label} | {rate_of(c, t)} ({c}/{t}) |")
    return "\n".join(rows)


def provenance(cfg: Config, extra: dict) -> str:
    """Which command, preset, backend and seed made a model, from its checkpoint's config and
    header (a field the checkpoint lacks is left out)."""
    parts = [f"preset {extra['preset']}" if extra.get("preset") else "",
             f"backend {extra['backend']}" if extra.get("backend") else "",
             f"seed {cfg.train.seed}"]  # fmt: skip
    made = f"Made by `{extra['command']}`" if extra.get("command") else "Made"
    return f"{made} ({', '.join(p for p in parts if p)})."


def _header(title: str, about: str, history: Sequence[dict]) -> list[str]:
    lines = [f"# {title}", "", *([about, ""] if about else [])]
    if history:
        best = min(history, key=lambda h: h["val_loss"])
        lines += [
            f"Best epoch by validation loss: {best['epoch']} "
            f"(val loss {best['val_loss']:.4f}, val exact {best['val_exact']:.2f} %).",
            "",
        ]
    return lines


def _accuracy_sections(ev: Evidence) -> list[str]:
    """The test split, the unseen lengths and the repeated words."""
    trained = f"{ev.data.min_len}-{ev.data.max_len}"
    return [
        "## Accuracy on the test split",
        "",
        accuracy_line(ev.test) + f"; token accuracy {rate_of(*token_accuracy(ev.test))}.",
        "",
        by_length_table(ev.test),
        "",
        f"## Lengths never seen in training (trained on {trained} words, {ev.attention} attention)",
        "",
        f"{PER_LENGTH} random sentences of each length: {summarise(ev.unseen)}.",
        "",
        by_length_table(ev.unseen),
        "",
        rule_verdict(ev),
        "",
        "## Sentences of repeated words",
        "",
        f"{len(ev.repeats)} sentences of {trained} words built from one or two distinct words "
        f'("the the cat the"): {summarise(ev.repeats)}; attention peaks on the mirrored '
        f"position in {pct(attention_stats(ev.repeats)['mirror_share'])} of word steps.",
        "",
        "```",
        examples(ev.repeats, 3),
        "```",
        "",
    ]


def _attention_sections(ev: Evidence, history: Sequence[dict]) -> list[str]:
    """Errors, attention by position, the ablation, and alignment over training."""
    slices = {"test": ev.test, "unseen lengths": ev.unseen, "repeated words": ev.repeats}
    return [
        "## Errors",
        "",
        errors_table(slices),
        "",
        "## Attention by decoder position (test split)",
        "",
        attention_table(ev.test),
        "",
        "## Attention ablation (test split, greedy)",
        "",
        ablation_table(ev.ablation),
        "",
        attention_role(ev.ablation),
        "",
        "## Attention over training",
        "",
        "Validation alignment: the share of word steps whose attention peaks on the mirrored "
        "source word, after each epoch.",
        "",
        training_table(history),
        "",
        "![alignment](alignment_curve.png)" if history else "",
        "",
    ]


def markdown(
    ev: Evidence,
    title: str,
    history: Sequence[dict],
    *,
    gallery: Sequence[tuple[str, str]] = (),
    about: str = "",
    analysis_text: str | None = None,
) -> str:
    """The whole report.md: every number in it is computed from `ev` and `history`; `about`
    (revseq.report.markdown.provenance) follows the title; analysis_text is
    analysis(ev.test, ev) when the caller has it already."""
    return "\n".join(
        [
            *_header(title, about, history),
            *_accuracy_sections(ev),
            *_attention_sections(ev, history),
            "## Gallery",
            "",
            *[f"{caption}\n\n![{name}]({name})\n" for name, caption in gallery],
            "## Examples",
            "",
            "```",
            examples(ev.test),
            "```",
            "",
            "## Analysis (computed from this run's test set and probes)",
            "",
            analysis(ev.test, ev) if analysis_text is None else analysis_text,
            "",
            "![attention](attention_heatmap.png)",
            "",
            "![loss](loss_curve.png)" if history else "",
            "",
        ]
    )
