"""Train a preset once per seed and backend and tabulate test exact match and time.

    python -m benchmarks.seed_sweep --preset default --seeds 1-10 --backends jax torch

Each run is `scripts/train.py` as a user runs it, in its own process; the table gives the
test exact-match count, the first optimizer step at 100 % validation exact match, the seconds
from process start to the accuracy line and to exit, and (with --probe) what
`scripts/reverse.py` prints for "the zebra sat".
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACCURACY = re.compile(r"Exact Match Accuracy: ([\d.]+)% \((\d+)/(\d+)\)")


def seeds(text: str) -> list[int]:
    """'1-10' or '1,2,3' -> the seeds."""
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def train(preset: str, backend: str, seed: int, out: Path, extra: list[str]) -> dict:
    """One train.py run: exact count, seconds to the accuracy line and to exit."""
    cmd = [sys.executable, str(ROOT / "scripts/train.py"), "--backend", backend,
           "--preset", preset, "--seed", str(seed), "--out", str(out), *extra]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    row = {"backend": backend, "seed": seed, "exact": None, "total": None, "to_accuracy_s": None}
    for line in proc.stdout or ():
        if m := ACCURACY.search(line):
            row["to_accuracy_s"] = round(time.perf_counter() - start, 1)
            row["exact"], row["total"] = int(m.group(2)), int(m.group(3))
    proc.wait()
    row["exit_s"] = round(time.perf_counter() - start, 1)
    row["returncode"] = proc.returncode
    return row | learning(out)


def learning(out: Path) -> dict:
    """From a run's metrics.jsonl: the first step whose validation exact match was 100 % and
    the last epoch's validation alignment (None where the run left no epoch)."""
    metrics = out / "metrics.jsonl"
    lines = metrics.read_text().splitlines() if metrics.exists() else []
    epochs = [json.loads(line) for line in lines]
    perfect = [e["step"] for e in epochs if e["val_exact"] == 100.0]
    alignment = round(epochs[-1]["val_alignment"], 1) if epochs else None
    return {"first_100_val_step": perfect[0] if perfect else None, "last_alignment": alignment}


def probe(out: Path, backend: str, text: str) -> str:
    """What reverse.py prints for `text` with this run's model."""
    cmd = [sys.executable, str(ROOT / "scripts/reverse.py"), "--checkpoint", str(out),
           "--backend", backend, text]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", default="default")
    p.add_argument("--seeds", type=seeds, default=seeds("1-10"))
    p.add_argument("--backends", nargs="+", default=["jax", "torch"])
    p.add_argument("--probe", default="the zebra sat", help="sentence given to reverse.py")
    p.add_argument("--json", type=Path, help="also write the rows here")
    p.add_argument("--keep", type=Path, help="keep the run folders under this folder")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="-- then more train.py flags")
    args = p.parse_args()
    extra = [a for a in args.extra if a != "--"]
    rows = []
    print("| backend | seed | test exact | first step at 100 % val | s to accuracy line "
          "| s to exit | reverse.py |\n|---|---:|---:|---:|---:|---:|---|")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            for seed in args.seeds:
                out = (args.keep or Path(tmp)) / f"{backend}-{seed}"
                row = train(args.preset, backend, seed, out, extra)
                row["probe"] = probe(out, backend, args.probe) if args.probe else ""
                rows.append(row)
                cells = [backend, seed, f"{row['exact']}/{row['total']}"]
                cells += [row["first_100_val_step"], row["to_accuracy_s"]]
                cells += [row["exit_s"], row["probe"]]
                print(
                    "| " + " | ".join("-" if c is None else str(c) for c in cells) + " |",
                    flush=True,
                )
    for backend in args.backends:
        mine = [r for r in rows if r["backend"] == backend]
        full = sum(r["total"] is not None and r["exact"] == r["total"] for r in mine)
        print(f"{backend}: {full}/{len(mine)} seeds at 100 %")
    if args.json:
        args.json.write_text(
            json.dumps({"preset": args.preset, "extra": extra, "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
