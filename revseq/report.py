"""The qualitative examples, the accuracy line and the Part 4 analysis, written from numbers.

Every sentence of the analysis is chosen by a measured value; a model that fails is told so.
"""

from __future__ import annotations

from collections.abc import Sequence

from revseq.metrics import (
    Decoded,
    accuracy_by_length,
    attention_by_position,
    attention_stats,
    error_analysis,
    exact_match,
    token_accuracy,
    token_accuracy_by_length,
)
from revseq.probes import PER_LENGTH, Evidence


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
    return f"Exact Match Accuracy: {100.0 * correct / max(total, 1):.2f}% ({correct}/{total})"


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.1f} %"


def _grade(x: float, high: float, low: float) -> str:
    return "high" if x >= high else "low" if x < low else "mid"


def analysis(items: Sequence[Decoded], ev: Evidence | None = None) -> str:
    """Answers to the four Part 4 questions, each computed from these decoded sentences (and,
    given the probes, from the unseen lengths and repeated words too)."""
    s = attention_stats(items)
    correct, total = exact_match(items)
    acc = correct / max(total, 1)
    align = _grade(s["mirror_share"], 0.9, 0.5)
    out = []

    out.append("1. What patterns do you observe in the attention weights?")
    sharp = "a sharp" if s["peak_weight"] >= 0.8 else "a diffuse"
    shape = {
        "high": f"{sharp} anti-diagonal: step t looks at source word n-1-t",
        "mid": "a partial anti-diagonal: many steps look at the mirrored word, many do not",
        "low": "no anti-diagonal: the peak rarely sits on the mirrored word",
    }[align]
    out.append(
        f"   Over {s['word_steps']} word-emitting decoder steps of {total} test sentences the "
        f"pattern is {shape}. Attention peaks on the mirrored source position in "
        f"{_pct(s['mirror_share'])} of steps (a uniform guess: {_pct(s['chance_share'])}); "
        f"the mean weight there is {s['mirror_weight']:.3f} and the mean peak weight "
        f"{s['peak_weight']:.3f}. {_pct(s['neighbour_share'])} of steps peak one position off the "
        f"mirror ({_pct(s['later_share'])} one position after it), and the source <EOS> holds "
        f"{s['eos_weight_words']:.3f} of the weight on average "
        f"while words are emitted."
    )

    copy = _grade(s["copy_share"], 0.9, 0.5)
    off = 1.0 - s["mirror_share"]
    shifted = copy != "high" and s["later_share"] >= 0.5 * off > 0  # misses fall one later

    out.append("2. Does the attention align input and output tokens correctly?")
    verdict = (
        "Yes"
        if align == "high" and acc >= 0.9
        else "No"
        if align == "low" or acc < 0.5
        else "Partly"
    )
    others = (
        f"among the others in {_pct(s['mirror_share_wrong'])}"
        if correct < total
        else "no sentence is wrong"
    )
    text = (
        f"   {verdict}. Exact match is {100 * acc:.2f} % ({correct}/{total}). Among exactly "
        f"matched sentences the peak is on the mirrored word in {_pct(s['mirror_share_correct'])} "
        f"of steps; {others}."
    )
    if verdict == "Partly" and acc >= 0.99 and shifted:
        text += (
            " The words come out right even where the peak is off the mirrored word, so the "
            "alignment the decoder uses is not the one-to-one one (see 3)."
        )
    out.append(text)

    out.append("3. How does attention help the model learn to reverse sequences?")
    pointer = (
        ", and only has to learn to move that pointer one step left per output instead of "
        "storing the whole sentence in one vector"
        if align == "high"
        else ""
    )
    how = {
        "high": "so attention works as a pointer: the decoder reads the word it must emit from "
        f"the position it attends to{pointer}",
        "mid": "so attention works as a pointer only part of the time",
        "low": "so this model does not use attention as a pointer; what it emits is not what it "
        "attends to",
    }[copy]
    text = (
        f"   The emitted word equals the source word under the attention peak in "
        f"{_pct(s['copy_share'])} of word steps, {how}."
    )
    if shifted:
        text += (
            f" When the peak misses the mirrored word it is mostly one position later "
            f"({_pct(s['later_share'])} of all word steps): the encoder's state there was "
            f"computed right after reading the word, so it still carries it and the decoder "
            f"can point at it instead."
        )
    out.append(text)

    out.append("4. What happens at the beginning and end of sequences?")
    out.append(
        f"   First step: the peak is on the last source word in {_pct(s['first_mirror_share'])} "
        f"of sentences (mean peak weight {s['first_peak_weight']:.3f}, normalised entropy "
        f"{s['first_entropy']:.3f}, where 0 is one-hot and 1 uniform). Last word step: the peak "
        f"is on the first source word in {_pct(s['last_mirror_share'])} of sentences (entropy "
        f"{s['last_entropy']:.3f}). "
        + (
            f"At the step that emits <EOS> ({s['eos_steps']} sentences with the right length) "
            f"the source <EOS> gets weight {s['eos_step_eos_weight']:.3f} (entropy "
            f"{s['eos_step_entropy']:.3f})."
            if s["eos_steps"]
            else "No sentence came out with the right length, so no step emitted <EOS> there."
        )
        + (f" {generalisation(ev)}" if ev else "")
    )
    return "\n".join(out)


def _rate(c: int, t: int) -> str:
    return f"{100 * c / t:.2f} %" if t else "n/a"


def by_length_table(items: Sequence[Decoded]) -> str:
    """Markdown table of exact match and token accuracy per source length."""
    tokens = token_accuracy_by_length(items)
    rows = ["| words | sentences | exact match | token accuracy |", "|---:|---:|---:|---:|"]
    for n, (c, t) in accuracy_by_length(items).items():
        rows.append(f"| {n} | {t} | {_rate(c, t)} | {_rate(*tokens[n])} |")
    return "\n".join(rows)


def _summary(items: Sequence[Decoded]) -> str:
    c, t = exact_match(items)
    return f"exact match {_rate(c, t)} ({c}/{t}), token accuracy {_rate(*token_accuracy(items))}"


def errors_table(slices: dict[str, Sequence[Decoded]]) -> str:
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
            f"| {t} | {r['steps']} | {_pct(r['mirror_share'])} | {r['entropy']:.3f} "
            f"| {r['eos_mass']:.3f} |"
        )
    return "\n".join(rows)


def training_table(history: Sequence[dict]) -> str:
    """Markdown table of validation exact match and alignment per epoch."""
    rows = ["| epoch | val loss | val exact | val alignment |", "|---:|---:|---:|---:|"]
    for h in history:
        align = f"{h['val_alignment']:.1f} %" if "val_alignment" in h else "n/a"
        rows.append(f"| {h['epoch']} | {h['val_loss']:.4f} | {h['val_exact']:.2f} % | {align} |")
    return "\n".join(rows)


def generalisation(ev: Evidence) -> str:
    """Sentences on the unseen lengths and the repeated words, for the analysis."""
    d = ev.data
    by = accuracy_by_length(ev.unseen)
    longer = {n: c / t for n, (c, t) in by.items() if n > d.max_len}
    shorter = {n: c / t for n, (c, t) in by.items() if n < d.min_len}
    out = []
    if longer:
        first, last = min(longer), max(longer)
        errs = error_analysis([x for x in ev.unseen if len(x.source) > d.max_len])
        where = max(errs["first_error"], key=errs["first_error"].get, default=None)
        out.append(
            f"Beyond the trained lengths ({d.min_len}-{d.max_len} words) exact match goes from "
            f"{_pct(longer[first])} at {first} words to {_pct(longer[last])} at {last}"
            + (f"; the first error falls most often at output position {where}" if where else "")
            + "."
        )
    if shorter:
        out.append(
            "On shorter sentences than any trained: "
            + ", ".join(f"{n} word{'s' * (n > 1)} {_pct(v)}" for n, v in sorted(shorter.items()))
            + "."
        )
    if ev.repeats:
        s = attention_stats(ev.repeats)
        how = (
            "the pointer still moves by position, not by word identity"
            if s["mirror_share"] >= 0.8
            else "with many equal words the pointer often loses its place"
        )
        out.append(
            f"On sentences of one or two repeated words {_summary(ev.repeats)}, with the peak "
            f"on the mirrored position in {_pct(s['mirror_share'])} of steps: {how}."
        )
    return " ".join(out)


def markdown(
    ev: Evidence, title: str, history: Sequence[dict], gallery: Sequence[tuple[str, str]] = ()
) -> str:
    """The whole report.md: every number in it is computed from `ev` and `history`."""
    items = ev.test
    best = min(history, key=lambda h: h["val_loss"]) if history else None
    parts = [f"# {title}", ""]
    if best:
        parts += [
            f"Best epoch by validation loss: {best['epoch']} "
            f"(val loss {best['val_loss']:.4f}, val exact {best['val_exact']:.2f} %).",
            "",
        ]
    trained = f"{ev.data.min_len}-{ev.data.max_len}"
    parts += [
        "## Accuracy on the test split",
        "",
        accuracy_line(items) + f"; {_summary(items)}.",
        "",
        by_length_table(items),
        "",
        f"## Lengths never seen in training (trained on {trained} words)",
        "",
        f"{PER_LENGTH} random sentences of each length: {_summary(ev.unseen)}.",
        "",
        by_length_table(ev.unseen),
        "",
        "## Sentences of repeated words",
        "",
        f"{len(ev.repeats)} sentences of {trained} words built from one or two distinct words "
        f'("the the cat the"): {_summary(ev.repeats)}; attention peaks on the mirrored '
        f"position in {_pct(attention_stats(ev.repeats)['mirror_share'])} of word steps.",
        "",
        "```",
        examples(ev.repeats, 3),
        "```",
        "",
        "## Errors",
        "",
        errors_table({"test": items, "unseen lengths": ev.unseen, "repeated words": ev.repeats}),
        "",
        "## Attention by decoder position (test split)",
        "",
        attention_table(items),
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
        "## Gallery",
        "",
        *[f"{caption}\n\n![{name}]({name})\n" for name, caption in gallery],
        "## Examples",
        "",
        "```",
        examples(items),
        "```",
        "",
        "## Analysis (computed from this run's test set and probes)",
        "",
        analysis(items, ev),
        "",
        "![attention](attention_heatmap.png)",
        "",
        "![loss](loss_curve.png)" if history else "",
        "",
    ]
    return "\n".join(parts)
