"""The Part 4 analysis, written from numbers: every sentence is chosen by a measured value
against a named threshold, and a model that fails is told so."""

from __future__ import annotations

from collections.abc import Sequence

from revseq.report.metrics import (
    accuracy_by_length,
    attention_stats,
    error_analysis,
    exact_match,
    token_accuracy,
)
from revseq.report.probes import Evidence
from revseq.task.decoded import Decoded

# Thresholds that choose the analysis's sentences. Shares are of word-emitting steps.
HIGH_SHARE = 0.9  # 9 steps in 10 or more on the mirrored word: the pattern is the rule
LOW_SHARE = 0.5  # under half: the mirrored word is the exception, not the rule
SHARP_PEAK = 0.8  # a mean peak weight of 0.8 or more leaves at most 0.2 to all other words
GOOD_EXACT = 0.9  # exact match for "Yes, it aligns": at most 1 sentence in 10 wrong
BAD_EXACT = 0.5  # exact match under this: most sentences wrong, so "No" whatever the peaks
NEAR_PERFECT = 0.99  # exact match so high that the off-mirror peaks cannot be what errs
MOSTLY_LATER = 0.5  # "mostly one position later": at least half the off-mirror steps
REPEATS_ALIGNED = 0.8  # on repeated words, the share that still counts as following position
# Exact match at every length never trained on for "the model learned the rule" (reversal is
# the same rule at every length, so a model that learned it reverses the unseen ones as well).
RULE_EXACT = 0.99
# The attention ablation (revseq.task.ablation), as shares of the model's own exact match:
NEEDS_ATTENTION = 0.5  # uniform weights keep under half of it: the decoder needs attention
POINTER_ENOUGH = 0.9  # the mirrored one-hot keeps 90 % or more: that position is enough


def pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.1f} %"


def num(x: float) -> str:
    """A mean to three places; "n/a" for one over an empty set (NaN)."""
    return "n/a" if x != x else f"{x:.3f}"


def _grade(x: float, high: float = HIGH_SHARE, low: float = LOW_SHARE) -> str:
    return "n/a" if x != x else "high" if x >= high else "low" if x < low else "mid"


def _patterns(s: dict, total: int) -> str:
    """Part 4, question 1: the shape of the attention, from the word-step statistics."""
    sharp = "a sharp" if s["peak_weight"] >= SHARP_PEAK else "a diffuse"
    shape = {
        "high": f"{sharp} anti-diagonal: step t looks at source word n-1-t",
        "mid": "a partial anti-diagonal: many steps look at the mirrored word, many do not",
        "low": "no anti-diagonal: the peak rarely sits on the mirrored word",
        "n/a": "not measurable: no word step was run",
    }[_grade(s["mirror_share"])]
    return (
        f"   Over {s['word_steps']} word-emitting decoder steps of {total} test sentences the "
        f"pattern is {shape}. Attention peaks on the mirrored source position in "
        f"{pct(s['mirror_share'])} of steps (a uniform guess: {pct(s['chance_share'])}); "
        f"the mean weight there is {num(s['mirror_weight'])} and the mean peak weight "
        f"{num(s['peak_weight'])}. {pct(s['neighbour_share'])} of steps peak one position off "
        f"the mirror ({pct(s['later_share'])} one position after it), and the source <EOS> "
        f"holds {num(s['eos_weight_words'])} of the weight on average while words are emitted."
    )


def _shifted(s: dict) -> bool:
    """Whether the peaks that miss the mirrored word mostly fall one position later."""
    off = 1.0 - s["mirror_share"]
    return _grade(s["copy_share"]) != "high" and s["later_share"] >= MOSTLY_LATER * off > 0


def _alignment(s: dict, correct: int, total: int) -> str:
    """Part 4, question 2: does the attention align input and output tokens?"""
    if not total:
        return "   n/a: the test split is empty."
    acc, align = correct / total, _grade(s["mirror_share"])
    verdict = (
        "Yes"
        if align == "high" and acc >= GOOD_EXACT
        else "No"
        if align in ("low", "n/a") or acc < BAD_EXACT
        else "Partly"
    )
    others = (
        f"among the others in {pct(s['mirror_share_wrong'])}"
        if correct < total
        else "no sentence is wrong"
    )
    text = (
        f"   {verdict}. Exact match is {100 * acc:.2f} % ({correct}/{total}). Among exactly "
        f"matched sentences the peak is on the mirrored word in {pct(s['mirror_share_correct'])} "
        f"of steps; {others}."
    )
    if verdict == "Partly" and acc >= NEAR_PERFECT and _shifted(s):
        text += (
            " The words come out right even where the peak is off the mirrored word, so the "
            "alignment the decoder uses is not the one-to-one one (see 3)."
        )
    return text


def attention_role(ablation: dict[str, tuple[int, int]]) -> str:
    """What the decoder needs its attention for, from test exact match under the model's
    own attention and under the fixed rules of revseq.task.ablation ({rule: (correct, total)})."""
    if not ablation:
        return "Not measured: no attention ablation was run for this report."
    (mc, t), uc, rc = ablation["model"], ablation["uniform"][0], ablation["mirror"][0]
    text = (
        f"Test exact match with the model's own attention is {rate_of(mc, t)}; with every "
        f"step's attention replaced by uniform weights over the source it is {rate_of(uc, t)}, "
        f"and by a one-hot on the mirrored word {rate_of(rc, t)}. "
    )
    if not mc:
        return text + "The model matches no sentence, so this cannot say what attention adds."
    uniform, mirror = uc / mc, rc / mc
    if uniform >= NEEDS_ATTENTION:
        return text + (
            f"The decoder does not need the attention to find the word: uniform weights keep "
            f"{pct(uniform)} of its exact match, so it carries the sentence in its own state."
        )
    if mirror >= POINTER_ENOUGH:
        return text + (
            "The decoder depends on where it attends: with uniform weights it loses the "
            "sentence, and a one-hot on the mirrored word restores it, so attention works as "
            "a pointer that moves one word left per step, and the decoder reads the word it "
            "emits from the position it points at."
        )
    return text + (
        "The decoder depends on its attention (uniform weights lose the sentence), but not "
        "as a one-to-one pointer: a one-hot on the mirrored word does not restore it, so what "
        "it reads through its own attention is more than the mirrored word."
    )


def _how_it_helps(s: dict, ev: Evidence | None) -> str:
    """Part 4, question 3, written from the attention ablation."""
    text = (
        f"   {attention_role(ev.ablation if ev else {})} The emitted word equals the source "
        f"word under the attention peak in {pct(s['copy_share'])} of word steps."
    )
    if _shifted(s):
        text += (
            f" When the peak misses the mirrored word it is mostly one position later "
            f"({pct(s['later_share'])} of all word steps)."
        )
    return text


def _ends(s: dict, ev: Evidence | None) -> str:
    """Part 4, question 4: the first and last steps, and the probes."""
    eos = (
        f"At the step that emits <EOS> ({s['eos_steps']} sentences with the right length) "
        f"the source <EOS> gets weight {num(s['eos_step_eos_weight'])} (entropy "
        f"{num(s['eos_step_entropy'])})."
        if s["eos_steps"]
        else "No sentence came out with the right length, so no step emitted <EOS> there."
    )
    return (
        f"   First step: the peak is on the last source word in {pct(s['first_mirror_share'])} "
        f"of sentences (mean peak weight {num(s['first_peak_weight'])}, normalised entropy "
        f"{num(s['first_entropy'])}, where 0 is one-hot and 1 uniform). Last word step: the "
        f"peak is on the first source word in {pct(s['last_mirror_share'])} of sentences "
        f"(entropy {num(s['last_entropy'])}). {eos}" + (f" {generalisation(ev)}" if ev else "")
    )


def analysis(items: Sequence[Decoded], ev: Evidence | None = None) -> str:
    """Answers to the four Part 4 questions, each computed from these decoded sentences (and,
    given the probes, from the unseen lengths, the repeated words and the attention ablation)."""
    s = attention_stats(items)
    correct, total = exact_match(items)
    return "\n".join(
        [
            "1. What patterns do you observe in the attention weights?",
            _patterns(s, total),
            "2. Does the attention align input and output tokens correctly?",
            _alignment(s, correct, total),
            "3. How does attention help the model learn to reverse sequences?",
            _how_it_helps(s, ev),
            "4. What happens at the beginning and end of sequences?",
            _ends(s, ev),
        ]
    )


def rate_of(c: int, t: int) -> str:
    return f"{100 * c / t:.2f} %" if t else "n/a"


def summarise(items: Sequence[Decoded]) -> str:
    c, t = exact_match(items)
    tokens = rate_of(*token_accuracy(items))
    return f"exact match {rate_of(c, t)} ({c}/{t}), token accuracy {tokens}"


def _spans(lengths: Sequence[int]) -> str:
    """[1, 2, 11, 12, 13] -> "1-2, 11-13"."""
    out: list[list[int]] = []
    for n in sorted(lengths):
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in out)


def rule_verdict(ev: Evidence) -> str:
    """Whether the model learned the rule or the trained lengths, from exact match on every
    unseen length against RULE_EXACT."""
    rates = {n: c / t for n, (c, t) in accuracy_by_length(ev.unseen).items()}
    if not rates:
        return "No unseen length was probed, so this cannot say whether the model learned the rule."
    worst = min(rates, key=lambda n: rates[n])
    failing = [n for n, r in rates.items() if r < RULE_EXACT]
    lowest = f"lowest {pct(rates[worst])} at {worst} word{'s' * (worst > 1)}"
    if not failing:
        return (
            f"The model learned the rule, not the lengths: exact match is at least "
            f"{pct(RULE_EXACT)} at every length it never trained on ({_spans(list(rates))} words; "
            f"{lowest})."
        )
    return (
        f"The model learned the lengths it trained on, not the rule: exact match is under "
        f"{pct(RULE_EXACT)} at {len(failing)} of the {len(rates)} unseen lengths "
        f"({_spans(failing)} words; {lowest})."
    )


def generalisation(ev: Evidence) -> str:
    """Sentences on the unseen lengths and the repeated words, for the analysis."""
    d = ev.data
    by = accuracy_by_length(ev.unseen)
    longer = {n: c / t for n, (c, t) in by.items() if n > d.max_len}
    shorter = {n: c / t for n, (c, t) in by.items() if n < d.min_len}
    out = [rule_verdict(ev)] if by else []
    if longer:
        first, last = min(longer), max(longer)
        errs = error_analysis([x for x in ev.unseen if len(x.source) > d.max_len])
        where = max(errs["first_error"], key=errs["first_error"].get, default=None)
        out.append(
            f"Beyond the trained lengths ({d.min_len}-{d.max_len} words) exact match goes from "
            f"{pct(longer[first])} at {first} words to {pct(longer[last])} at {last}"
            + (f"; the first error falls most often at output position {where}" if where else "")
            + "."
        )
    if shorter:
        out.append(
            "On shorter sentences than any trained: "
            + ", ".join(f"{n} word{'s' * (n > 1)} {pct(v)}" for n, v in sorted(shorter.items()))
            + "."
        )
    if ev.repeats:
        s = attention_stats(ev.repeats)
        how = (
            "attention still follows the position, not the word identity"
            if s["mirror_share"] >= REPEATS_ALIGNED
            else "with many equal words attention often loses its place"
        )
        out.append(
            f"On sentences of one or two repeated words {summarise(ev.repeats)}, with the peak "
            f"on the mirrored position in {pct(s['mirror_share'])} of steps: {how}."
        )
    return " ".join(out)
