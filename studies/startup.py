"""The default run's time to its accuracy line and to exit, for several versions of the code side
by side (docs/performance.md): each version's `scripts/train.py` run as a user runs it, the
versions alternated, the JAX compilation cache off.

    python -m studies.startup 5a0fc05 HEAD --runs 3
    python -m studies.startup HEAD /tmp/a-variant --runs 3

A version is a git revision, checked out into a temporary worktree (HEAD: this working tree as
it is), or a folder holding a copy of the code. Prints each run's seconds and the medians, with
the machine's matmul rate measured before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from benchmarks import measure
from revseq.timing import median_seconds

ROOT = Path(__file__).resolve().parents[1]


def matmul_gflops() -> float:
    """The machine's float32 matmul rate now (numpy, 1024 x 1024), GFLOP/s."""
    a = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    return 2 * 1024**3 / median_seconds(lambda: a @ a, 9) / 1e9


def checkout(revision: str, into: Path) -> Path:
    """The code of `revision` in a worktree under `into` (HEAD: this working tree; a folder:
    itself)."""
    if revision == "HEAD":
        return ROOT
    if Path(revision).is_dir():
        return Path(revision)
    tree = into / revision
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), revision],
                   check=True, capture_output=True)  # fmt: skip
    return tree


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("versions", nargs="+", help="git revisions or folders of code")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--preset", default="default")
    args = p.parse_args()
    rows: dict[str, list[dict]] = {v: [] for v in args.versions}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {v: checkout(v, Path(tmp)) for v in args.versions}
        print(f"matmul {matmul_gflops():.0f} GFLOP/s before")
        for i in range(args.runs):
            for version, tree in trees.items():
                row = run(tree, args.preset)
                rows[version].append(row)
                line = f"accuracy line {row['seconds_to_accuracy']:.2f} s"
                line += f", exit {row['seconds_to_exit']:.2f} s, {row['phases']}"
                print(f"run {i + 1} {version}: {line}", flush=True)
        print(f"matmul {matmul_gflops():.0f} GFLOP/s after")
        for version, runs in rows.items():
            a = statistics.median(r["seconds_to_accuracy"] for r in runs)
            e = statistics.median(r["seconds_to_exit"] for r in runs)
            print(f"{version}: median accuracy line {a:.2f} s, exit {e:.2f} s ({len(runs)} runs)")
        for tree in trees.values():
            if tree.parent == Path(tmp):
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(tree)], capture_output=True)  # fmt: skip


def run(tree: Path, preset: str) -> dict:
    """measure.time_to_accuracy on the code in `tree` (first on the path of its processes)."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(tree)
    try:
        return measure.time_to_accuracy(preset, root=tree)
    finally:
        os.environ.pop("PYTHONPATH")
        if saved is not None:
            os.environ["PYTHONPATH"] = saved


if __name__ == "__main__":
    main()
