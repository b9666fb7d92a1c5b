"""The qualitative examples, the accuracy line and the Part 4 analysis, written from numbers.

Every sentence of the analysis is chosen by a measured value; a model that fails is told so.
"""

from __future__ import annotations

from collections.abc import Sequence

from revseq.metrics import Decoded, accuracy_by_length, attention_stats, exact_match


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


def analysis(items: Sequence[Decoded]) -> str:
    """Answers to the four Part 4 questions, each computed from these decoded sentences."""
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
        f"{s['last_entropy']:.3f}). At the step that emits <EOS> ({s['eos_steps']} sentences "
        f"with the right length) the source <EOS> gets weight {s['eos_step_eos_weight']:.3f} "
        f"(entropy {s['eos_step_entropy']:.3f})."
    )
    return "\n".join(out)


def by_length_table(items: Sequence[Decoded]) -> str:
    """Markdown table of exact match per source length."""
    rows = ["| words | exact | total | accuracy |", "|---:|---:|---:|---:|"]
    for n, (c, t) in accuracy_by_length(items).items():
        rows.append(f"| {n} | {c} | {t} | {100 * c / t:.2f} % |")
    return "\n".join(rows)


def markdown(items: Sequence[Decoded], title: str, history: Sequence[dict]) -> str:
    """The whole report.md of a run."""
    best = min(history, key=lambda h: h["val_loss"]) if history else None
    parts = [f"# {title}", ""]
    if best:
        parts += [
            f"Best epoch by validation loss: {best['epoch']} "
            f"(val loss {best['val_loss']:.4f}, val exact {best['val_exact']:.2f} %).",
            "",
        ]
    parts += [
        "## Accuracy",
        "",
        accuracy_line(items),
        "",
        by_length_table(items),
        "",
        "## Examples",
        "",
        "```",
        examples(items),
        "```",
        "",
        "## Analysis (computed from this run's test set)",
        "",
        analysis(items),
        "",
        "![attention](attention_heatmap.png)",
        "",
        "![loss](loss_curve.png)",
        "",
    ]
    return "\n".join(parts)
