"""The end of a run: its best checkpoint evaluated on the test split, the Part 4 analysis, and
the report in the run folder (revseq.report.outputs)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from revseq.report import analysis, evaluation, markdown, outputs, probes
from revseq.task.ablation import RULES
from revseq.task.as_typed import restore
from revseq.task.backend import Backend
from revseq.task.config import DataConfig
from revseq.task.conventions import EVAL_BATCH
from revseq.task.decoded import Decoded
from revseq.task.init import init_params
from revseq.training import checkpoint, run_folder
from revseq.training.run_folder import RunFolder


def compile_decoders(backend: Backend, task, data: DataConfig) -> None:
    """Decode zeros at every shape evaluate_best decodes (the model's attention at each of the
    report's widths, the ablation's fixed rules at the task's buckets), with params made as it
    makes them: each decoder is then compiled when the report needs it."""
    params = backend.from_numpy(init_params(backend.cfg.model, 0))
    for width in probes.decode_edges(data, task.edges):  # validation's first
        backend.decode(params, np.zeros((EVAL_BATCH, width), np.int32))
    for width in task.edges:
        for rule in RULES:
            backend.decode(params, np.zeros((EVAL_BATCH, width), np.int32), attention=rule)


def evaluate_best(
    *,
    folder: RunFolder,
    backend: Backend,
    task,
    history: list[dict],
    log: Callable[[str], None],
) -> list[Decoded]:
    """Reload `best` from the run folder, decode the test split and the probes, log the
    examples, the accuracy line and the analysis, write the report files (only the writer,
    in a run of several processes, which all decode); returns the decoded test sentences,
    every prediction written as the user gets it (revseq.task.as_typed), so the exact match
    counts those. `task` is revseq.training.run.Task."""
    log("Loading the best model for evaluation...")
    out, data = folder.path, folder.cfg.data
    best = checkpoint.load(out)
    params = backend.from_numpy(best.params)

    edges = probes.decode_edges(data, task.edges)

    def decode(sentences, attention="model"):  # scored as the user sees them (as_typed)
        vocab = task.vocab
        items = evaluation.decode(backend, params, vocab=vocab, sentences=sentences, edges=edges,
                                  attention=attention)  # fmt: skip
        return [restore(d, task.vocab) for d in items]

    items = decode(task.splits.test)
    log("\n" + markdown.examples(items))
    log(markdown.accuracy_line(items))
    ev = probes.gather(
        decode,
        items,
        data=data,
        greedy=decode,
        attention=backend.cfg.model.attention,
        words=probes.probe_words(task.vocab),
    )
    text = analysis.analysis(items, ev)
    log("\n" + text)
    if folder.writer:
        about = markdown.provenance(best.config, best.extra)
        steps = run_folder.read_steps(out)
        outputs.write(out, ev, history, steps=steps, title="revseq run", about=about, analysis=text)
    log(
        f"\nWrote {out}: run.json, best.safetensors, last.safetensors (+ .json), "
        "metrics.jsonl, test.txt, report.md, attention_heatmap.png, attention_*.png, "
        "loss_curve.png, alignment_curve.png"
    )
    return items
