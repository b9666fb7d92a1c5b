"""Per-epoch learning curves of a preset: our JAX or torch backend, or the notebook's own loop.

    python -m studies.curves jax --epochs 3 [--set length_buckets=1 unk_rate=0 seed=1]
        [--per-step-forcing] [--out docs/data/x.jsonl]
    python -m studies.curves notebook --epochs 3

The learning-rate schedule is the preset's whole run (`epochs` of the config, 30 for `seed`);
--epochs only stops early. One JSON row per epoch (train loss, free-running val loss and exact
match) is printed and, with --out, written. All three start from revseq.task.init's weights for the
seed and train on the same sentences (revseq.training.run.prepare).

notebook: parity_tests/notebook.py's train_epoch (its model, AdamOptimizer, clip_gradients,
loss; one forcing coin per decoder step; a shuffled DataLoader of the notebook's collate_fn,
no <UNK>, no buckets, a constant rate as the notebook has), evaluated as the notebook's
forward with forcing ratio 0 on batches of 64 (mixed lengths: its encoder reads PAD).
--per-step-forcing (our backends) turns each batch's per-token mask into one coin per step.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from benchmarks.notebook_loop import notebook_loop
from revseq.task.config import preset
from revseq.task.init import init_params
from revseq.training import backends
from revseq.training.run import epoch_batches, prepare


def parse_value(text: str):
    """'1' -> 1, '0.5' -> 0.5, anything else stays a string."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def ours(name: str, cfg, epochs: int, per_step: bool):
    """Yield (train_loss, val_loss, val_exact) per epoch of revseq.training.run's own pieces."""
    rng = np.random.default_rng(cfg.train.seed)
    task = prepare(cfg, rng)
    backend = backends.load(name, cfg, steps_per_epoch=task.steps_per_epoch)
    state = backend.start(init_params(cfg.model, cfg.train.seed))
    for _ in range(epochs):
        batches = epoch_batches(cfg, data=task.train, edges=task.edges, rng=rng)
        if per_step:  # row 0's per-token draws become every row's: one coin per step
            batches = [b._replace(force=np.broadcast_to(b.force[:1], b.force.shape).copy())
                       for b in batches]  # fmt: skip
        state, tm = backend.train_epoch(state, batches)
        vm = backend.evaluate(state, task.val_batches)
        yield (
            tm["loss_sum"] / tm["count"],
            vm["loss_sum"] / vm["count"],
            vm["exact"] / len(task.splits.val),
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("backend", choices=["jax", "torch", "notebook"])
    p.add_argument("--preset", default="seed")
    p.add_argument("--epochs", type=int, default=3, help="epochs to run (of the preset's schedule)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--per-step-forcing", action="store_true")
    p.add_argument("--out", help="JSONL file to write")
    args = p.parse_args()
    overrides = dict(kv.split("=", 1) for kv in args.set)
    cfg = preset(args.preset).replace(**{k: parse_value(v) for k, v in overrides.items()})
    if args.backend == "notebook":
        rows = notebook_loop(cfg, args.epochs)
    else:
        rows = ours(args.backend, cfg, args.epochs, args.per_step_forcing)
    label = {"loop": args.backend, "preset": args.preset, **overrides}
    if args.per_step_forcing:
        label["forcing"] = "per step"
    lines, start = [], time.perf_counter()
    for epoch, (train_loss, val_loss, exact, *_) in enumerate(rows, 1):
        row = {**label, "epoch": epoch, "train_loss": round(train_loss, 5),
               "val_loss": round(val_loss, 5), "val_exact": round(100 * exact, 2),
               "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
        print(json.dumps(row), flush=True)
        lines.append(json.dumps(row) + "\n")
        if args.out:
            with open(args.out, "w") as f:
                f.writelines(lines)


if __name__ == "__main__":
    main()
