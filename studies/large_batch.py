"""Fewer, larger steps (docs/presets.md, "large-batch"): a grid of recipes on one seed.

    python -m studies.large_batch --attention location --batches 512,1024 \
        --lrs 0.01,0.02,0.03 --warmups 0,8,16 --steps 64,96,128 --seed 42

Each run is `revseq train` as a user runs it, in its own process, with a step budget
(`--steps`, a cosine schedule over it after `--warmup` steps rising from 0); a row gives the
test exact match at the end (the best epoch by validation loss, as every run reports it), the
first step whose validation exact match was 100 %, the last epoch's validation alignment, and
the seconds from process start to the accuracy line and to exit. A recipe's seed sweep is
`python -m benchmarks.seed_sweep --preset P --seeds 1-10 -- FLAGS`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

from benchmarks.seed_sweep import train

HEAD = (
    "| flags | test exact | first step at 100 % val | alignment % | s to accuracy | s to exit |"
    "\n|---|---:|---:|---:|---:|---:|"
)


def table_row(r: dict) -> str:
    cells = [r["flags"], f"{r['exact']}/{r['total']}", r["first_100_val_step"]]
    cells += [r["last_alignment"], r["to_accuracy_s"], r["exit_s"]]
    return "| " + " | ".join("-" if c is None else str(c) for c in cells) + " |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", default="long", help="the base preset")
    p.add_argument("--attention", default="", help="location (long's) or bahdanau")
    p.add_argument("--batches", default="512,1024")
    p.add_argument("--lrs", default="0.01,0.02,0.03")
    p.add_argument("--warmups", default="0,16")
    p.add_argument("--steps", default="64,96,128")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args()
    rows: list[dict] = []
    attention = ["--attention", args.attention] if args.attention else []
    print(HEAD, flush=True)
    grid = itertools.product(*(v.split(",") for v in
                               (args.batches, args.lrs, args.warmups, args.steps)))  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="large-batch-") as tmp:
        for i, (batch, lr, warmup, steps) in enumerate(grid):
            flags = [*attention, "--batch-size", batch, "--lr", lr, "--warmup", warmup,
                     "--steps", steps]  # fmt: skip
            out = Path(tmp) / str(i)
            row = train(args.preset, "jax", args.seed, out, [*flags, "--jax-cache", ""])
            rows.append(row | {"flags": " ".join(flags)})
            print(table_row(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
