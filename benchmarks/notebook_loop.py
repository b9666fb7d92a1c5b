"""The notebook's own training loop (parity_tests/notebook.py: its model, DataLoader with
collate_fn, hand-written Adam, clipping and train_epoch) on a preset's task, from the shared
initial weights, with its free-running validation: the yardstick our epochs are timed against
(the benchmark's notebook epoch, the accelerator check, studies.curves)."""

from __future__ import annotations

import random
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from parity_tests import notebook  # the notebook's own code, the parity suite's oracle
from revseq.task.data import reverse
from revseq.task.init import init_params
from revseq.task.vocab import PAD, SOS
from revseq.training.run import prepare


def notebook_loop(cfg, epochs: int):
    """Yield (train_loss, val_loss, val_exact, train_seconds) per epoch of the notebook's own
    loop."""
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
        start = time.perf_counter()
        train_loss = notebook.train_epoch(net, train, opt, t.teacher_forcing)
        train_seconds = time.perf_counter() - start
        net.eval()
        loss_sum, count, exact = 0.0, 0, 0
        with torch.no_grad():
            for src, tgt in val:
                out, _ = net(src, tgt, 0.0)  # free-running
                real = tgt[:, 1:] != PAD
                n = int(real.sum())
                loss_sum += float(notebook.compute_loss(out[:, 1:], tgt[:, 1:])) * n
                count += n
                right = (out[:, 1:].argmax(-1) == tgt[:, 1:]) | ~real
                exact += int(right.all(dim=1).sum())
        yield train_loss, loss_sum / count, exact / len(task.splits.val), train_seconds
