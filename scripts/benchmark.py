"""Measure both backends side by side in one process and print a table (--json FILE saves it).

python scripts/benchmark.py                  # the default preset
python scripts/benchmark.py --preset seed    # the notebook's settings
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from revseq import benchmark, cli
from revseq.backends import BACKENDS
from revseq.config import PRESETS, preset


def table(results: list[dict], accuracy: dict | None) -> str:
    """The figures as an aligned text table, one column per backend."""
    names = [r["backend"] for r in results]
    rows = [
        ("train sentences/s (median)", "train_sentences_per_s", "{:,.0f}"),
        ("train step ms (median)", "train_step_ms", "{:.1f}"),
        ("model GFLOP/s in training", "model_gflops_per_s", "{:.1f}"),
        ("matmul GFLOP/s, B x H @ H x 3H", "matmul_gflops_per_s", "{:.1f}"),
        ("first epoch s (compiles incl.)", "first_epoch_s", "{:.1f}"),
        ("second epoch s", "second_epoch_s", "{:.1f}"),
        ("XLA compilations, epoch 1 / 2", None, None),
        ("train-step shapes compiled", "train_step_shapes", "{}"),
        ("greedy decode of test set, ms", "decode_test_ms", "{:.0f}"),
    ]
    machine = max(r["matmul_gflops_per_s"] for r in results)
    lines = [f"{'':34}" + "".join(f"{n:>12}" for n in names)]
    for label, key, fmt in rows:
        if key is None:
            cells = [f"{r['compiles_epoch_1']} / {r['compiles_epoch_2']}" for r in results]
        else:
            cells = [fmt.format(r[key]) for r in results]
        lines.append(f"{label:34}" + "".join(f"{c:>12}" for c in cells))
    share = [f"{100 * r['model_gflops_per_s'] / machine:.0f} %" for r in results]
    lines.append(f"{'share of the best matmul rate':34}" + "".join(f"{c:>12}" for c in share))
    for length in (10, 20, 40, 80):
        cells = [f"{r['step_ms_by_length'][length]:.1f}" for r in results]
        lines.append(f"{f'step ms at length {length}':34}" + "".join(f"{c:>12}" for c in cells))
    compile_s = [f"{r['compile_s_by_length'][10]:.1f}" for r in results]
    lines.append(
        f"{'train-step compile s (length 10)':34}" + "".join(f"{c:>12}" for c in compile_s)
    )
    ratio = [f"{r['step_ms_by_length'][80] / r['step_ms_by_length'][10]:.1f}x" for r in results]
    lines.append(f"{'step time, length 80 / 10':34}" + "".join(f"{c:>12}" for c in ratio))
    if accuracy:
        lines.append(
            f"time to test exact match ({accuracy['preset']}, {accuracy['backend']}): "
            f"{accuracy['seconds']:.1f} s from process start, {accuracy['test_exact']:.2f} %"
        )
    return "\n".join(lines)


def main() -> None:
    p = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--backends", default="jax,torch", help="comma-separated, in order")
    p.add_argument("--repeats", type=cli.positive_int, default=5)
    p.add_argument(
        "--no-time-to-accuracy",
        action="store_true",
        help="skip the full training run that times the preset to its accuracy",
    )
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    names = args.backends.split(",")
    for n in names:
        if n not in BACKENDS:
            p.error(f"unknown backend {n!r}")
    cfg = preset(args.preset)
    results = [benchmark.measure_backend(n, cfg, args.repeats) for n in names]
    accuracy = None if args.no_time_to_accuracy else benchmark.time_to_accuracy(args.preset)
    print(
        f"preset {args.preset} | {platform.processor() or platform.machine()} | "
        f"{benchmark.cpu_count()} CPUs"
    )
    print(table(results, accuracy))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"preset": args.preset, "results": results, "time_to_accuracy": accuracy}, indent=2
            )
            + "\n"
        )


if __name__ == "__main__":
    cli.run(main)
