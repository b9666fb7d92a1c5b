"""Time to learn, not only time per epoch: at the notebook's settings (`--preset seed`), the
seconds from process start until validation exact match first reaches 99 %, and beside it the
notebook's own training loop on the same sentences, epoch by epoch, until its validation loss
is as low as ours was then (or a cap of epochs).

    python -m benchmarks.learning [--max-notebook-epochs 12] [--json FILE]

Ours is `scripts/train.py --preset seed` as a user runs it (compile included, cache off),
stopped once an epoch line reports 99 %; the notebook's loop is studies.curves.notebook_loop
(its model, Adam, clipping and train_epoch, its free-running validation), timed from its first
epoch's start. A faster epoch only counts if learning per epoch is not slower: this is the
check.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from parity_tests import notebook  # the notebook's own code, the parity suite's oracle
from revseq.task.config import preset
from revseq.task.data import reverse
from revseq.task.init import init_params
from revseq.task.vocab import PAD, SOS
from revseq.training.run import prepare

ROOT = Path(__file__).resolve().parents[1]
TARGET = 99.0  # validation exact match, %
EPOCH = re.compile(
    r"Epoch (\d+)/\d+ \| Train Loss: [\d.]+ \| Val Loss: ([\d.]+) \| Val Exact: ([\d.]+)%"
)


def ours(name: str = "seed") -> dict:
    """train.py --preset name until an epoch's validation exact match reaches TARGET: that
    epoch, its validation loss and the seconds since process start (None if never)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, str(ROOT / "scripts/train.py"), "--backend", "jax", "--preset",
               name, "--out", str(Path(tmp) / "run")]  # fmt: skip
        env = {**os.environ, "REVSEQ_JAX_CACHE": "", "PYTHONUNBUFFERED": "1"}
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, env=env)  # fmt: skip
        row = {"epoch": None, "val_loss": None, "seconds": None, "epochs": []}
        for line in proc.stdout:
            if found := EPOCH.search(line):
                epoch, loss, exact = int(found[1]), float(found[2]), float(found[3])
                seconds = time.perf_counter() - start
                row["epochs"].append({"epoch": epoch, "val_loss": loss, "val_exact": exact,
                                      "seconds": round(seconds, 1)})  # fmt: skip
                if exact >= TARGET:
                    row |= {"epoch": epoch, "val_loss": loss, "seconds": seconds}
                    break
        proc.kill()
        proc.wait()
    return row


def notebook_run(name: str, val_loss: float | None, max_epochs: int) -> dict:
    """The notebook's loop until its validation loss is at most val_loss (or max_epochs)."""
    rows, start, reached = [], time.perf_counter(), None
    for epoch, (_, loss, exact) in enumerate(notebook_loop(preset(name), max_epochs), 1):
        seconds = time.perf_counter() - start
        rows.append({"epoch": epoch, "val_loss": round(loss, 5), "val_exact": round(100 * exact, 2),
                     "seconds": round(seconds, 1)})  # fmt: skip
        if val_loss is not None and loss <= val_loss:
            reached = {"epoch": epoch, "seconds": seconds}
            break
    return {"reached": reached, "epochs": rows}


def summary(ours_: dict, notebook_: dict) -> list[str]:
    """The comparison as lines."""
    if ours_["epoch"] is None:
        return [f"ours: validation exact match never reached {TARGET:g} %"]
    lines = [
        f"ours (train.py --preset seed, compile included): {TARGET:g} % validation exact match "
        f"at epoch {ours_['epoch']}, {ours_['seconds']:.1f} s from process start "
        f"(validation loss {ours_['val_loss']:.4f})"
    ]
    last = notebook_["epochs"][-1]
    if notebook_["reached"]:
        r = notebook_["reached"]
        lines.append(
            f"the notebook's loop: validation loss {ours_['val_loss']:.4f} first reached at "
            f"epoch {r['epoch']}, {r['seconds']:.1f} s "
            f"({r['seconds'] / ours_['seconds']:.1f}x our time)"
        )
    else:
        best = min(e["val_loss"] for e in notebook_["epochs"])
        lines.append(
            f"the notebook's loop: not at validation loss {ours_['val_loss']:.4f} after "
            f"{last['epoch']} epochs, {last['seconds']:.1f} s (best {best:.4f}, validation exact "
            f"match {last['val_exact']:.1f} %)"
        )
    return lines


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


def compare(max_notebook_epochs: int = 12) -> tuple[dict, dict]:
    """(ours, the notebook's loop) at the seed preset, as above."""
    ours_ = ours()
    return ours_, notebook_run("seed", ours_["val_loss"], max_notebook_epochs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--max-notebook-epochs", type=int, default=12)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    ours_, notebook_ = compare(args.max_notebook_epochs)
    print("\n".join(summary(ours_, notebook_)))
    if args.json:
        args.json.write_text(json.dumps({"ours": ours_, "notebook": notebook_}, indent=2) + "\n")


if __name__ == "__main__":
    main()
