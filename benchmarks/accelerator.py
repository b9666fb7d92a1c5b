"""The accelerator check's measurements (benchmarks/accelerator_check.sh runs them all):

    python -m benchmarks.accelerator epochs [--epochs 2] [--n-train N] [--n-eval N]
    python -m benchmarks.accelerator steps [--sizes 16,64,256,1024] [--unroll 1,4]
    python -m benchmarks.accelerator runs [--runs 1]

`epochs`: the notebook's own training loop (parity_tests/notebook.py) and `revseq train --preset
seed`, the same settings, epoch by epoch on the same device, side by side. `steps`: the JAX
train step's milliseconds at each batch size (the default model, 10-word sentences, one step
a call), at each scan unroll. `runs`: the default and the large-batch preset trained as a user
trains them (compilation cache off): seconds to the accuracy line, to exit, optimizer steps,
and where the seconds went.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax

from benchmarks import measure
from benchmarks.notebook_loop import notebook_loop
from revseq.task.config import preset
from revseq.timing import median_seconds
from revseq_jax.backend import Backend

ROOT = Path(__file__).resolve().parents[1]
EPOCH = re.compile(r"^Epoch (\d+)/\d+ .*\| ([\d.]+)s")


def epochs(count: int, n_train: int, n_eval: int) -> None:
    """Seconds per epoch of the notebook's loop and of ours at the seed preset's settings, on
    n_train training sentences and n_eval each for validation and test."""
    cfg = preset("seed").replace(n_train=n_train, n_val=n_eval, n_test=n_eval, epochs=count)
    theirs, start = [], time.perf_counter()
    for _ in notebook_loop(cfg, count):
        theirs.append(time.perf_counter() - start)
        start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, str(ROOT / "scripts/train.py"), "--preset", "seed", "--epochs",
               str(count), "--n-train", str(n_train), "--n-val", str(n_eval), "--n-test",
               str(n_eval), "--out", str(Path(tmp) / "run")]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
    ours = [float(m[2]) for m in map(EPOCH.match, out.splitlines()) if m]
    for i, (a, b) in enumerate(zip(theirs, ours, strict=False), 1):
        print(f"seed settings, epoch {i}: the notebook's loop {a:.2f} s, ours {b:.2f} s "
              f"({a / b:.1f}x)")  # fmt: skip


def steps(sizes: list[int], unrolls: list[int], repeats: int = 5) -> None:
    """Milliseconds a JAX train step takes at each batch size and scan unroll."""
    device = jax.devices()[0].device_kind
    for unroll in unrolls:
        cells = [f"{size}: {step_ms(size, unroll, repeats):.2f}" for size in sizes]
        print(f"train step ms on {device}, scan unroll {unroll}, by batch: " + ", ".join(cells))


def step_ms(size: int, unroll: int, repeats: int) -> float:
    """The median milliseconds of one train step of the default model at this batch size."""
    cfg = preset("default").replace(batch_size=size, chunk=1, scan_unroll=unroll)
    batch = measure.length_batch(10, size)
    backend = Backend(cfg, 1)
    state = [backend.init()]

    def train():
        state[0], _ = backend.train_epoch(state[0], [batch])

    train()  # compiles
    return 1e3 * median_seconds(train, repeats)


def runs(count: int) -> None:
    """The default and large-batch presets' whole runs, alternated, the median of each."""
    timed: dict[str, list] = {p: [] for p in ("default", "large-batch")}
    for _ in range(count):
        for name, rows in timed.items():
            rows.append(measure.time_to_accuracy(name))
    from benchmarks.__main__ import accuracy_line

    for rows in timed.values():
        print(accuracy_line(measure.median_run(rows)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("what", choices=("epochs", "steps", "runs"))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--n-train", type=int, default=8000)
    p.add_argument("--n-eval", type=int, default=1000, help="validation and test sentences")
    p.add_argument("--sizes", default="16,64,256,1024")
    p.add_argument("--unroll", default="1,4")
    p.add_argument("--runs", type=int, default=1)
    args = p.parse_args()
    if args.what == "epochs":
        epochs(args.epochs, args.n_train, args.n_eval)
    elif args.what == "steps":
        steps([int(s) for s in args.sizes.split(",")], [int(u) for u in args.unroll.split(",")])
    else:
        runs(args.runs)


if __name__ == "__main__":
    main()
