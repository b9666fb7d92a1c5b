"""Speed measurements through the backend surface: training and decoding throughput, step time
by length, compilations, the machine's matmul rate, and the model's FLOPs per step.

Timings on a shared 2-core machine are noisy: every figure is a median over repeats, taken
after a warm-up, and backends are measured in the same process on the same batches.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from revseq.report import evaluation
from revseq.task.batching import Batch, make_batch
from revseq.task.batching import encode as encode_split
from revseq.task.config import Config, ModelConfig
from revseq.task.data import WORDS
from revseq.task.vocab import Vocabulary
from revseq.timing import median_seconds
from revseq.training import backends
from revseq.training.run import epoch_batches, prepare

# Sentence lengths (words) at which a train step is timed.
LENGTHS = (10, 20, 40, 80)
BEAM = 5  # the beam width the decode row times beside greedy
LENGTH_CHUNK = 5  # steps a call when timing a step by length


def model_flops(cfg: ModelConfig, B: int, S: int, T: int) -> float:
    """Matmul FLOPs of one training step (forward + backward = 3x forward) of the model's math.

    Counted as the notebook writes the model (context, then weight_ih over [embedding;
    context]), for B rows of source length S and target length T; elementwise work is left out,
    as usual for a utilisation figure. Both backends are measured against this same count.
    """
    E, H, V, L = cfg.embed_dim, cfg.hidden_dim, cfg.vocab_size, cfg.num_layers
    mm = lambda m, k, n: 2.0 * m * k * n  # noqa: E731
    enc = sum(S * (mm(B, E if k == 0 else H, 3 * H) + mm(B, H, 3 * H)) for k in range(L))
    keys = mm(B * S, H, H)
    step = (
        mm(B, H, H)  # W_s query
        + mm(B * S, H, 1)  # v . tanh(...)
        + mm(B, S, H)  # context
        + mm(B, E + H, 3 * H)
        + mm(B, H, 3 * H)  # decoder layer 0
        + (L - 1) * 2 * mm(B, H, 3 * H)  # layers above
        + mm(B, H, V)  # fc
    )
    return 3.0 * (enc + keys + T * step)


def length_batch(length: int, batch_size: int, seed: int = 0) -> Batch:
    """A batch of `batch_size` random sentences of exactly `length` words, half forced."""
    rng = np.random.default_rng(seed)
    vocab = Vocabulary(WORDS)
    sentences = [tuple(rng.choice(WORDS, length)) for _ in range(batch_size)]
    data = encode_split(sentences, vocab)
    force = rng.random((batch_size, length + 1)) < 0.5
    return make_batch(data, np.arange(batch_size), batch_size, length=length + 1, force=force)


def measure_backend(name: str, cfg: Config, repeats: int = 5, subset: int = 50) -> dict:
    """Training, decoding and step-length figures of one backend on the config's task."""
    bench = importlib.import_module(f"benchmarks.{name}_bench")
    rng = np.random.default_rng(cfg.train.seed)
    splits, vocab, edges, train_data, val, _ = prepare(cfg, rng)
    epoch = epoch_batches(cfg, data=train_data, edges=edges, rng=rng)
    backend = backends.load(name, cfg, steps_per_epoch=len(epoch))
    state = [backend.init()]

    def train_on(bs):
        state[0], m = backend.train_epoch(state[0], bs)
        return m

    out: dict = {"backend": name, "steps_per_epoch": len(epoch)}
    shapes = {b.src.shape: b for b in epoch}
    compiled = bench.compilations()
    out["train_step_compile_s"] = [
        bench.compile_train_step(backend, state[0], b) for _, b in sorted(shapes.items())
    ]
    out["train_step_shapes"] = bench.compilations() - compiled
    for i, which in enumerate(("first", "second"), start=1):  # each with its validation
        c, t = bench.compilations(), time.perf_counter()
        train_on(epoch)
        backend.evaluate(state[0], val)
        out[f"{which}_epoch_s"] = time.perf_counter() - t
        out[f"compiles_epoch_{i}"] = bench.compilations() - c

    chunk = cfg.train.chunk
    sample = epoch[: max(chunk, subset // chunk * chunk)]  # whole chunks: no padding steps
    seconds = median_seconds(lambda: train_on(sample), repeats)
    rows = sum(int((b.src != 0).any(axis=1).sum()) for b in sample)
    flops = sum(model_flops(cfg.model, b.src.shape[0], b.src.shape[1], b.tgt_in.shape[1])
                for b in sample)  # fmt: skip
    out["train_sentences_per_s"] = rows / seconds
    out["train_step_ms"] = 1e3 * seconds / len(sample)
    out["model_gflops_per_s"] = flops / seconds / 1e9

    H, B = cfg.model.hidden_dim, cfg.train.batch_size
    out["matmul_gflops_per_s"] = 2.0 * B * H * 3 * H / bench.matmul_seconds(B, H, 3 * H) / 1e9

    out |= decoding(backend, backend.params(state[0]), vocab, splits.test, edges, repeats)
    out |= by_length(name, cfg, len(epoch), repeats)
    if hasattr(bench, "seconds_by_devices"):
        by_devices = bench.seconds_by_devices(cfg, sample, repeats)
        out["sentences_per_s_by_devices"] = {n: rows / s for n, s in by_devices.items()}
    if hasattr(bench, "step_ms_by_unroll"):
        out["step_ms_by_unroll"] = bench.step_ms_by_unroll(cfg, length_batch(10, B), repeats)
    if hasattr(bench, "notebook_epoch_seconds"):
        out["notebook_epoch_s"] = bench.notebook_epoch_seconds(cfg)
    return out


def decoding(backend, params, vocab, sentences, edges, repeats: int) -> dict:
    """{"decode_test_ms", "beam_decode_test_ms", "decode_sentences"}: greedy and beam-BEAM
    decoding of the sentences, medians after a warm-up (which compiles)."""
    out: dict = {"decode_sentences": len(sentences)}
    for key, beam in (("decode_test_ms", 1), ("beam_decode_test_ms", BEAM)):
        decode = partial(evaluation.decode, backend, params, vocab=vocab, sentences=sentences,
                         edges=edges, beam=beam)  # fmt: skip
        decode()
        out[key] = 1e3 * median_seconds(decode, repeats)
    return out


def by_length(name: str, cfg: Config, steps_per_epoch: int, repeats: int) -> dict:
    """{"step_ms_by_length", "compile_s_by_length"}: one backend's train step at each of
    LENGTHS, in calls of at most LENGTH_CHUNK steps (a preset's own chunk of 80-word steps
    would take minutes a call)."""
    bench = importlib.import_module(f"benchmarks.{name}_bench")
    k = min(cfg.train.chunk, LENGTH_CHUNK)
    short = backends.load(name, cfg.replace(chunk=k), steps_per_epoch=steps_per_epoch)
    short_state = [short.init()]

    def train_short(bs):
        short_state[0], _ = short.train_epoch(short_state[0], bs)

    step_ms, compile_s = {}, {}
    for length in LENGTHS:
        batch = length_batch(length, cfg.train.batch_size)
        compile_s[length] = bench.compile_train_step(short, short_state[0], batch)
        train_short([batch] * k)  # warm-up
        step_ms[length] = 1e3 * median_seconds(partial(train_short, [batch] * k), repeats) / k
    return {"step_ms_by_length": step_ms, "compile_s_by_length": compile_s}


# The lines a run prints, in order, that end each phase of it (time_to_accuracy's breakdown).
PHASES = {
    "start (imports, data, model)": "Backend ",
    "compile": "Compiled ",
    "train and validate": "Loading the best model",
    "test split decoded": "Exact Match Accuracy",
    "report": "Wrote ",
}


def time_to_accuracy(
    preset: str, backend: str = "jax", cache: str = "", root: Path = Path(__file__).parents[1]
) -> dict:
    """Run `scripts/train.py --preset <preset>` as a user would, with the JAX compilation cache
    in `cache` ("": off, every compile cold): the seconds from process start to the line that
    reports the test exact match, that accuracy, the seconds to the process's exit (plots and
    report written), the optimizer steps the run took, and where the seconds went (PHASES:
    each phase ends with a line the run prints; "exit" is what follows the last). `root`: the
    copy of the code whose scripts/train.py runs."""
    script = Path(root).resolve() / "scripts" / "train.py"
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, str(script), "--backend", backend, "--preset", preset]
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*command, "--out", str(Path(tmp) / "run")],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "REVSEQ_JAX_CACHE": cache, "PYTHONUNBUFFERED": "1"},
        )
        accuracy, ends = None, {}
        for line in proc.stdout or ():
            for phase, starts in PHASES.items():
                if line.startswith(starts) and phase not in ends:
                    ends[phase] = time.perf_counter() - start
            found = re.search(r"Exact Match Accuracy: ([\d.]+)%", line)
            if found and accuracy is None:
                accuracy = float(found[1])
        code = proc.wait()
        seconds = time.perf_counter() - start
        metrics = Path(tmp) / "run" / "metrics.jsonl"
        rows = metrics.read_text().splitlines() if metrics.is_file() else []
    phases, before = {}, 0.0
    for phase, end in [*((p, ends.get(p)) for p in PHASES), ("exit", seconds)]:
        if end is not None:  # a phase whose line never came is counted in the next
            phases[phase], before = round(end - before, 2), end
    return {
        "preset": preset,
        "backend": backend,
        "compilation_cache": "warm" if cache else "off",
        "seconds_to_accuracy": ends.get("test split decoded"),
        "seconds_to_exit": seconds,
        "test_exact": accuracy,
        "steps": json.loads(rows[-1]).get("step") if rows else None,
        "phases": phases,
        "exit": code,
    }


def warm_runs(preset: str, count: int) -> list[dict]:
    """`count` timed runs of time_to_accuracy with the compilation cache warm: a first, untimed
    run of the same command fills a fresh cache."""
    if count == 0:
        return []
    with tempfile.TemporaryDirectory() as cache:
        time_to_accuracy(preset, cache=cache)
        return [time_to_accuracy(preset, cache=cache) for _ in range(count)]


def median_run(runs: list[dict]) -> dict:
    """The run with the median time to its accuracy line, with every run's time beside it."""
    timed = sorted(runs, key=lambda r: r["seconds_to_accuracy"] or float("inf"))
    return {
        **timed[(len(timed) - 1) // 2],
        "all_seconds_to_accuracy": [r["seconds_to_accuracy"] for r in runs],
        "all_test_exact": [r["test_exact"] for r in runs],
        "all_seconds_to_exit": [r["seconds_to_exit"] for r in runs],
    }


def cpu_count() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
