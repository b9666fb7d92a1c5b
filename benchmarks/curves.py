"""Per-epoch learning curves of a preset: our JAX or torch backend, or the notebook's own loop.

    python -m benchmarks.curves jax --epochs 3 [--set length_buckets=1 unk_rate=0 seed=1]
        [--per-step-forcing] [--out docs/data/x.jsonl]
    python -m benchmarks.curves notebook --epochs 3

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
import random
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from parity_tests import notebook  # the notebook's own code, the parity suite's oracle
from revseq.task.config import preset
from revseq.task.data import reverse
from revseq.task.init import init_params
from revseq.task.vocab import PAD, SOS
from revseq.training import backends
from revseq.training.run import epoch_batches, plan, prepare


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
    backend = backends.load(
        name, cfg, len(plan(task.train.lengths, cfg.train.batch_size, task.edges))
    )
    state = backend.start(init_params(cfg.model, cfg.train.seed))
    for _ in range(epochs):
        batches = epoch_batches(cfg, task.train, task.edges, rng)
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


def notebook_loop(cfg, epochs: int):
    """Yield (train_loss, val_loss, val_exact) per epoch of the notebook's own loop."""
    rng = np.random.default_rng(cfg.train.seed)
    task = prepare(cfg, rng)
    torch.manual_seed(cfg.train.seed)
    random.seed(cfg.train.seed)
    m, t = cfg.model, cfg.train
    net = notebook.build(len(task.vocab), m.embed_dim, m.hidden_dim, m.num_layers, m.dropout)
    weights = init_params(m, t.seed)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})

    def pairs(sentences):
        return [(task.vocab.encode(s), [SOS, *task.vocab.encode(reverse(s))]) for s in sentences]

    train = DataLoader(pairs(task.splits.train), t.batch_size, shuffle=True,
                       collate_fn=notebook.collate)  # fmt: skip
    val = DataLoader(pairs(task.splits.val), 64, collate_fn=notebook.collate)
    opt = notebook.AdamOptimizer(net.parameters(), lr=t.lr, betas=(t.b1, t.b2), eps=t.eps)
    for _ in range(epochs):
        train_loss = notebook.train_epoch(net, train, opt, t.teacher_forcing)
        net.eval()
        loss_sum = count = exact = 0
        with torch.no_grad():
            for src, tgt in val:
                out, _ = net(src, tgt, 0.0)  # free-running
                real = tgt[:, 1:] != PAD
                n = int(real.sum())
                loss_sum += float(notebook.compute_loss(out[:, 1:], tgt[:, 1:])) * n
                count += n
                right = (out[:, 1:].argmax(-1) == tgt[:, 1:]) | ~real
                exact += int(right.all(dim=1).sum())
        yield train_loss, loss_sum / count, exact / len(task.splits.val)


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
    for epoch, (train_loss, val_loss, exact) in enumerate(rows, 1):
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
