"""Why batches grouped by length train more slowly: per-length results and gradient statistics.

    python -m studies.bucket_gradients [--seed 42] [--steps 125]

Trains the seed preset (JAX) for --steps steps with 1 and with 2 length buckets from the same
weights and sentences, and prints for each the free-running validation loss and exact match
by sentence length. Then, at the weights after 1 bucket's steps, takes the gradients of one
epoch's batches grouped both ways (same sentences, same per-token forcing draws) and prints:
coherence ||mean g||^2 / mean ||g||^2 (1 = every batch points the same way), the mean cosine of
a batch's gradient with the mean, the norms, and the cosine between the mean gradients of the
short and the long bucket.
"""

from __future__ import annotations

import argparse
import json

import jax
import numpy as np

from revseq.task.batching import batches, encode, make_batch, plan
from revseq.task.config import preset
from revseq.task.init import init_params
from revseq.training import backends
from revseq.training.run import prepare
from revseq_jax import train as jtrain
from revseq_jax.decode import decode_and_score


def flat(tree) -> np.ndarray:
    """A pytree's leaves as one float64 vector."""
    return np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(tree)]).astype(float)


def by_length(cfg, params, task) -> dict[int, tuple[float, float]]:
    """words -> (free-running val loss, exact %) over the validation sentences of that length."""
    val = encode(task.splits.val, task.vocab)
    out = {}
    for n in sorted(set(val.lengths.tolist())):
        rows = np.nonzero(val.lengths == n)[0]
        b = make_batch(val, rows, len(rows), length=int(val.src.shape[1]))
        m = jax.device_get(decode_and_score(params, cfg.model, b.src, b.tgt_out)[2])
        loss = float(m["loss_sum"] / m["count"])
        out[n - 1] = (round(loss, 3), round(100 * float(m["exact"]) / len(rows), 1))
    return out


def train_with_buckets(base, seed: int, steps: int) -> dict:
    """{length_buckets: params} after `steps` JAX steps with 1 and with 2 length buckets; prints
    a JSON row of each run's train loss and validation exact match by length."""
    trained = {}
    for count in (1, 2):
        cfg = base.replace(length_buckets=count)
        rng = np.random.default_rng(seed)
        task = prepare(cfg, rng)
        per_epoch = len(plan(task.train.lengths, cfg.train.batch_size, task.edges))
        backend = backends.load("jax", cfg, steps_per_epoch=per_epoch)
        state = backend.start(init_params(cfg.model, seed))
        epoch = batches(task.train, cfg.train.batch_size, task.edges, rng=rng, teacher_forcing=0.5)
        epoch = epoch[:steps]
        state, tm = backend.train_epoch(state, epoch)
        trained[count] = state.params
        row = {"buckets": count, "steps": len(epoch)}
        row["train_loss"] = round(tm["loss_sum"] / tm["count"], 4)
        row["val_by_words"] = by_length(cfg, state.params, task)
        print(json.dumps(row), flush=True)
    return trained


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--steps", type=int, default=125)
    args = p.parse_args()
    cfg = preset("seed").replace(seed=args.seed, unk_rate=0.0, dropout=0.0)
    trained = train_with_buckets(cfg, args.seed, args.steps)
    rng = np.random.default_rng(args.seed + 1)
    task = prepare(cfg.replace(length_buckets=1), np.random.default_rng(args.seed))
    order = rng.permutation(len(task.train.lengths))
    force_rng = np.random.default_rng(0)
    force = force_rng.random((len(order), task.train.src.shape[1])) < 0.5

    grad = jax.jit(jax.grad(lambda p, b: jtrain.loss_fn(p, cfg.model, b, None)[0]))

    def grads(groups):
        out = []
        for rows in groups:
            f = np.zeros((64, 11), bool)
            f[: len(rows), : force.shape[1]] = force[rows]
            b = make_batch(task.train, rows, 64, length=11, force=f)
            out.append(flat(grad(trained[1], b)))
        return np.stack(out)

    mixed = [order[i : i + 64] for i in range(0, len(order) - 63, 64)]
    L = task.train.lengths
    short = order[L[order] <= 7]  # the 2-bucket plan's first bucket: 3..6 words + EOS
    long = order[L[order] > 7]
    grouped = [short[i : i + 64] for i in range(0, len(short) - 63, 64)]
    grouped += [long[i : i + 64] for i in range(0, len(long) - 63, 64)]
    n = min(len(mixed), len(grouped), 40)
    pick = np.random.default_rng(1)
    for name, groups in (("mixed", mixed), ("grouped", grouped)):
        idx = pick.choice(len(groups), n, replace=False)
        G = grads([groups[i] for i in idx])
        mean = G.mean(0)
        cos = G @ mean / np.linalg.norm(G, axis=1) / np.linalg.norm(mean)
        row = {"batches": name, "n": n}
        row["coherence"] = round(float(mean @ mean / (G * G).sum(1).mean()), 4)
        row["cos_with_mean"] = round(float(cos.mean()), 3)
        row["mean_norm"] = round(float(np.linalg.norm(G, axis=1).mean()), 4)
        if name == "grouped":
            is_short = np.array([L[groups[i][0]] <= 7 for i in idx])
            gs, gl = G[is_short].mean(0), G[~is_short].mean(0)
            row["cos_short_long"] = round(
                float(gs @ gl / np.linalg.norm(gs) / np.linalg.norm(gl)), 3
            )
            row["norm_short"] = round(float(np.linalg.norm(G[is_short], axis=1).mean()), 4)
            row["norm_long"] = round(float(np.linalg.norm(G[~is_short], axis=1).mean()), 4)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
