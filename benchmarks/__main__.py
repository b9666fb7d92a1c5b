"""Measure both backends side by side in one process and print a table (--json FILE saves it).

python -m benchmarks                  # the default preset (run from the repository's root)
python -m benchmarks --preset seed    # the notebook's settings
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from benchmarks import measure as benchmark
from benchmarks.scaling import batch_scaling
from benchmarks.scaling import rows as batch_scaling_rows
from revseq import cli
from revseq.task.config import PRESETS, preset
from revseq.training import backends
from revseq.training.backends import BACKENDS


def column(r: dict, best_matmul: float) -> list[tuple[str, str]]:
    """One backend's figures as (label, cell) rows."""
    steps = r["step_ms_by_length"]
    compiles = " ".join(f"{c:.1f}" for c in r["train_step_compile_s"])
    return [
        ("train sentences/s (median)", f"{r['train_sentences_per_s']:,.0f}"),
        ("train step ms (median)", f"{r['train_step_ms']:.1f}"),
        ("model GFLOP/s in training", f"{r['model_gflops_per_s']:.1f}"),
        ("matmul GFLOP/s, B x H @ H x 3H", f"{r['matmul_gflops_per_s']:.1f}"),
        ("share of the best matmul rate", f"{r['model_gflops_per_s'] / best_matmul:.0%}"),
        ("train-step compile s, per shape", compiles),
        ("first epoch s (after that compile)", f"{r['first_epoch_s']:.1f}"),
        ("second epoch s", f"{r['second_epoch_s']:.1f}"),
        ("compilations, epoch 1 / 2", f"{r['compiles_epoch_1']} / {r['compiles_epoch_2']}"),
        ("train-step shapes compiled", f"{r['train_step_shapes']}"),
        ("greedy decode of test set, ms", f"{r['decode_test_ms']:.0f}"),
        (f"beam-{benchmark.BEAM} decode of test set, ms", f"{r['beam_decode_test_ms']:.0f}"),
        *[(f"step ms at length {n}", f"{steps[n]:.1f}") for n in benchmark.LENGTHS],
        ("step time, length 80 / 10", f"{steps[80] / steps[10]:.1f}x"),
        ("train-step compile s, length 80", f"{r['compile_s_by_length'][80]:.1f}"),
    ]


def table(results: list[dict], accuracy: list[dict], scaling: dict | None = None) -> str:
    """The figures as an aligned text table, one column per backend, then the run-level lines."""
    best_matmul = max(r["matmul_gflops_per_s"] for r in results)
    columns = [column(r, best_matmul) for r in results]
    lines = [f"{'':36}" + "".join(f"{r['backend']:>12}" for r in results)]
    for i, (label, _) in enumerate(columns[0]):
        lines.append(f"{label:36}" + "".join(f"{c[i][1] or '-':>12}" for c in columns))
    for r in results:
        if "step_ms_by_unroll" in r:
            cells = " / ".join(f"{ms:.1f}" for ms in r["step_ms_by_unroll"].values())
            lines.append(f"{r['backend']} step ms at length 10 with scan unroll 1 / 2 / 4: {cells}")
        if len(r.get("sentences_per_s_by_devices", {})) > 1:
            by = r["sentences_per_s_by_devices"]
            lines.append(
                f"{r['backend']} train sentences/s on "
                + " / ".join(f"{n}" for n in by)
                + " devices: "
                + " / ".join(f"{v:,.0f}" for v in by.values())
            )
        if "torch_compile" in r:
            c = r["torch_compile"]
            lines.append(
                f"torch.compile, step at length 10: {c['compiled_ms']:.1f} ms against "
                f"{c['eager_ms']:.1f} ms eager, after {c['compile_s']:.0f} s of compiling"
            )
    notebook = next((r["notebook_epoch_s"] for r in results if "notebook_epoch_s" in r), None)
    if notebook:
        ours = ", ".join(f"{r['backend']} {notebook / r['second_epoch_s']:.1f}x" for r in results)
        lines.append(
            f"the notebook's own code: one epoch {notebook:.1f} s (second epoch faster by: {ours})"
        )
    lines += [accuracy_line(a) for a in accuracy]
    if scaling:
        lines += ["", *batch_scaling_rows(scaling)]
    return "\n".join(lines)


def accuracy_line(a: dict) -> str:
    """The whole command's figures: time to the accuracy line and to exit, medians."""
    cache = "cache off (cold compiles)" if a["compilation_cache"] == "off" else "cache warm"
    if a["test_exact"] is None:
        return f"time to test exact match, {cache}: no accuracy printed (exit {a['exit']})"
    each = ", ".join(f"{s:.1f}" if s else "-" for s in a["all_seconds_to_accuracy"])
    exits = ", ".join(f"{s:.1f}" for s in a["all_seconds_to_exit"])
    phases = ", ".join(f"{p} {s:.1f}" for p, s in a["phases"].items())
    return (
        f"train.py --preset {a['preset']} --backend {a['backend']}, {cache}: "
        f"{a['test_exact']:.2f} % after {a['steps']} optimizer steps, printed at "
        f"{a['seconds_to_accuracy']:.1f} s (median of {each}); process exit at "
        f"{a['seconds_to_exit']:.1f} s (median of {exits}); the median run's seconds: {phases}"
    )


def parser() -> cli.ArgumentParser:
    """The benchmark's command line."""
    p = cli.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument(
        "--backends",
        help="comma-separated, in order (default: jax,torch, or those of them installed)",
    )
    p.add_argument("--repeats", type=cli.positive_int, default=5)
    p.add_argument(
        "--accuracy-runs",
        type=cli.int_at_least(0),
        default=3,
        help="times `train.py --preset default` and `--preset large-batch` are run, alternated, "
        "to time them to their test accuracy (the medians are reported; 0 skips it)",
    )
    p.add_argument(
        "--scaling",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="JAX training and decoding sentences/s at batch 32..512 (default and seed models)",
    )
    p.add_argument(
        "--torch-compile",
        action="store_true",
        help="also time the torch step under torch.compile (about a minute to compile)",
    )
    p.add_argument("--json", type=Path, help="also write the figures here")
    return p


def backend_names(p: cli.ArgumentParser, flag: str | None) -> list[str]:
    """The backends to measure: those named, each installed; by default every installed one
    (a line says which is left out and what to install)."""
    if flag:
        names = flag.split(",")
        for n in names:
            if n not in BACKENDS:
                p.error(f"unknown backend {n!r}")
            if not backends.installed(n):
                p.error(backends.missing(n))
        return names
    names = [n for n in BACKENDS if backends.installed(n)]
    for n in BACKENDS:
        if n not in names:
            print(f"{backends.missing(n)}; measuring {', '.join(names)} alone")
    return names


def main() -> None:
    p = parser()
    args = p.parse_args()
    names = backend_names(p, args.backends)
    cfg = preset(args.preset)
    results = [benchmark.measure_backend(n, cfg, args.repeats) for n in names]
    if args.torch_compile and "torch" in names:
        from benchmarks.torch_bench import compiled_step

        batch = benchmark.length_batch(10, cfg.train.batch_size)
        results[names.index("torch")]["torch_compile"] = compiled_step(cfg, batch, args.repeats)
    n = args.accuracy_runs
    cold: dict[str, list] = {name: [] for name in ("default", "large-batch")}
    for _ in range(n):  # the two presets alternated, so that both meet the same drift
        for name, runs in cold.items():
            runs.append(benchmark.time_to_accuracy(name))
    accuracy = [benchmark.median_run(r) for r in (*cold.values(), benchmark.warm_runs("default", n))
                if r]  # fmt: skip
    scaling = batch_scaling() if args.scaling and "jax" in names else None
    print(
        f"preset {args.preset} | {platform.processor() or platform.machine()} | "
        f"{benchmark.cpu_count()} CPUs"
    )
    print(table(results, accuracy, scaling))
    if args.json:
        figures = {"preset": args.preset, "results": results, "time_to_accuracy": accuracy}
        figures["batch_scaling"] = scaling
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    cli.run(main)
