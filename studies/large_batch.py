"""Fewer, larger steps (docs/presets.md, "Large batches"): a grid of recipes and a seed sweep.

    python -m studies.large_batch grid --attention location --batches 512,1024 \
        --lrs 0.01,0.02,0.03 --warmups 0,8,16 --steps 64,96,128 --seed 42
    python -m studies.large_batch seeds --preset large-batch --seeds 1-10 --backends jax,torch

Each run is `revseq train` as a user runs it, in its own process, with a step budget
(`--steps`, a cosine schedule over it after `--warmup` steps rising from 0); a row gives the
test exact match at the end (the best epoch by validation loss, as every run reports it), the
first step whose validation exact match was 100 %, the last epoch's validation alignment, and
the seconds from process start to the accuracy line and to exit.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

from benchmarks.seed_sweep import seeds, train


def measure(preset: str, backend: str, seed: int, flags: list[str], out: Path) -> dict:
    """One run's row (the module docstring)."""
    row = train(preset, backend, seed, out, [*flags, "--jax-cache", ""])
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    perfect = [e["step"] for e in epochs if e["val_exact"] == 100.0]
    row |= {"flags": " ".join(flags), "first_100_val_step": perfect[0] if perfect else None}
    row["last_alignment"] = round(epochs[-1]["val_alignment"], 1)
    return row


def table_row(r: dict) -> str:
    cells = [r["backend"], r["seed"], r["flags"], f"{r['exact']}/{r['total']}"]
    cells += [r["first_100_val_step"], r["last_alignment"], r["to_accuracy_s"], r["exit_s"]]
    return "| " + " | ".join("-" if c is None else str(c) for c in cells) + " |"


HEAD = (
    "| backend | seed | flags | test exact | first step at 100 % val | alignment % "
    "| s to accuracy | s to exit |\n|---|---:|---|---:|---:|---:|---:|---:|"
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("what", choices=("grid", "seeds"))
    p.add_argument("--preset", default="long", help="the base preset (grid: long)")
    p.add_argument("--attention", default="", help="grid: location (long) or bahdanau")
    p.add_argument("--batches", default="512,1024")
    p.add_argument("--lrs", default="0.01,0.02,0.03")
    p.add_argument("--warmups", default="0,16")
    p.add_argument("--steps", default="64,96,128")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--seeds", type=seeds, default=seeds("1-10"))
    p.add_argument("--backends", default="jax,torch")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args()
    rows, tmp = [], Path(tempfile.mkdtemp(prefix="large-batch-"))
    print(HEAD, flush=True)
    if args.what == "grid":
        attention = ["--attention", args.attention] if args.attention else []
        grid = itertools.product(*(v.split(",") for v in
                                   (args.batches, args.lrs, args.warmups, args.steps)))  # fmt: skip
        for i, (batch, lr, warmup, steps) in enumerate(grid):
            flags = [*attention, "--batch-size", batch, "--lr", lr, "--warmup", warmup,
                     "--steps", steps]  # fmt: skip
            rows.append(measure(args.preset, "jax", args.seed, flags, tmp / str(i)))
            print(table_row(rows[-1]), flush=True)
    else:
        for backend in args.backends.split(","):
            for seed in args.seeds:
                rows.append(measure(args.preset, backend, seed, [], tmp / f"{backend}-{seed}"))
                print(table_row(rows[-1]), flush=True)
        for backend in args.backends.split(","):
            mine = [r for r in rows if r["backend"] == backend]
            full = sum(r["exact"] == r["total"] for r in mine)
            print(f"{backend}: {full}/{len(mine)} seeds at 1000/1000")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
