"""What a large vocabulary costs: the JAX train step and greedy decoding at 1k, 10k and 50k
words (sentences per second, peak memory), for a corpus run's vocabulary (docs/real-text.md).

    python -m studies.vocab_scale [--preset long] [--sizes 1000 10000 50000]

Each size runs in a fresh process, so that its peak memory is its own: on an accelerator the
device's peak bytes in use (jax memory_stats), on a CPU the process's peak resident memory
(which includes Python, JAX and the compiled programs: compare the sizes, not the figure).
The sentences are random words of the vocabulary, of the preset's lengths; the step is the
preset's (batch size, chunk of steps per call), timed after compiling, as a median of epochs
of STEPS steps; decoding is greedy on batches of EVAL_BATCH sentences.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

STEPS = 50  # train steps per timed epoch
REPEATS = 3


def measure(preset_name: str, words: int) -> dict:
    """Sentences/s of training and of greedy decoding, and peak memory, at `words` words."""
    import jax

    from revseq.task.batching import batches, edges_for, encode
    from revseq.task.config import preset
    from revseq.task.conventions import EVAL_BATCH
    from revseq.task.data import random_sentences, task_words
    from revseq.task.vocab import Vocabulary
    from revseq.timing import median_seconds
    from revseq_jax.backend import Backend

    cfg = preset(preset_name).replace(n_words=words, vocab_size=words + 4)
    d, t = cfg.data, cfg.train
    rng = np.random.default_rng(0)
    vocab = Vocabulary(task_words(words))
    lengths = list(range(d.min_len, d.max_len + 1))
    sentences = random_sentences(
        vocab.itos[4:], lengths, -(-STEPS * t.batch_size // len(lengths)), rng=rng
    )
    edges = edges_for(d.max_len, d.min_len, t.length_buckets)
    train = batches(encode(sentences, vocab), t.batch_size, edges, rng=rng,
                    teacher_forcing=t.teacher_forcing, chunk=t.chunk)  # fmt: skip
    train = train[:STEPS]
    backend = Backend(cfg, len(train))
    state = [backend.init()]

    def epoch():
        state[0], _ = backend.train_epoch(state[0], train)

    epoch()  # compiles
    step_s = median_seconds(epoch, REPEATS) / len(train)
    params = backend.params(state[0])
    src = encode(sentences[:EVAL_BATCH], vocab).src
    src = np.pad(src, ((0, 0), (0, edges[-1] - src.shape[1])))
    backend.decode(params, src)  # compiles
    decode_s = median_seconds(lambda: backend.decode(params, src), REPEATS)
    stats = jax.devices()[0].memory_stats() or {}
    n_params = sum(int(np.prod(v.shape)) for v in jax.tree_util.tree_leaves(params))
    return {
        "words": words,
        "params": n_params,
        "train_sentences_per_s": t.batch_size / step_s,
        "decode_sentences_per_s": EVAL_BATCH / decode_s,
        "peak_device_bytes": stats.get("peak_bytes_in_use"),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "device": str(jax.devices()[0].device_kind),
    }


def table(rows: list[dict]) -> str:
    """The figures as a Markdown table."""
    out = [
        "| words | parameters | train sentences/s | greedy decode sentences/s | peak memory |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        peak = r["peak_device_bytes"] or r["peak_rss_bytes"]
        where = "device" if r["peak_device_bytes"] else "process RSS"
        out.append(
            f"| {r['words']:,} | {r['params']:,} | {r['train_sentences_per_s']:,.0f} | "
            f"{r['decode_sentences_per_s']:,.0f} | {peak / 2**20:,.0f} MiB ({where}) |"
        )
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="long")
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child: one size, JSON out
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure(args.preset, args.one)))
        return
    rows = []
    for words in args.sizes:
        start = time.perf_counter()
        cmd = [sys.executable, "-m", "studies.vocab_scale", "--preset", args.preset]
        out = subprocess.run([*cmd, "--one", str(words)], capture_output=True, text=True)
        if out.returncode:
            sys.exit(out.stderr)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"{words} words: {time.perf_counter() - start:.0f}s", file=sys.stderr)
    print(f"Preset {args.preset} on {rows[0]['device']}, {time.strftime('%Y-%m-%d')}:\n")
    print(table(rows))


if __name__ == "__main__":
    main()
