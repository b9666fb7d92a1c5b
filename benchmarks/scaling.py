"""How throughput grows with the batch: training and greedy-decoding sentences/s of the JAX
backend at several batch sizes, for the default and the seed model, on whatever devices JAX
finds (the same rows on a CPU, a GPU or a TPU show where each curve flattens).

Each figure is a median over repeats after a warm-up, on random 10-word sentences (the
longest the task trains on), one train step per compiled call (no chunking, so a batch size
costs one compile); a timed call trains on, or decodes, about SENTENCES sentences.
"""

from __future__ import annotations

import jax
import numpy as np

from benchmarks.measure import length_batch
from revseq.task.config import preset
from revseq.timing import median_seconds
from revseq_jax.backend import Backend

SIZES = (32, 64, 128, 256, 512)  # batch sizes
MODELS = ("default", "seed")  # presets whose model is timed
SENTENCES = 2048  # about this many sentences per timed call, at least one batch


def throughput(preset_name: str, size: int, repeats: int) -> dict[str, float]:
    """{"train": sentences/s, "decode": sentences/s} of the preset's model at this batch size."""
    cfg = preset(preset_name).replace(batch_size=size, chunk=1)
    steps = max(1, SENTENCES // size)
    batches = [length_batch(10, size, seed=i) for i in range(steps)]
    backend = Backend(cfg, steps)
    state = [backend.init()]

    def train():
        state[0], _ = backend.train_epoch(state[0], batches)

    src = batches[0].src

    def decode():
        for _ in range(steps):
            jax.block_until_ready(backend.decode(backend.params(state[0]), src))

    train(), decode()  # warm-up: compiles
    return {
        "train": size * steps / median_seconds(train, repeats),
        "decode": size * steps / median_seconds(decode, repeats),
    }


def batch_scaling(repeats: int = 3) -> dict[str, dict[int, dict[str, float]]]:
    """{model preset: {batch size: throughput}} for MODELS x SIZES."""
    return {name: {n: throughput(name, n, repeats) for n in SIZES} for name in MODELS}


def rows(scaling: dict) -> list[str]:
    """The scaling figures as table lines: one line per model and kind, one column a size."""
    sizes = sorted({n for by in scaling.values() for n in by})
    device = jax.devices()[0]  # its kind: "cpu" on a CPU, the chip's name on an accelerator
    lines = [
        f"sentences/s by batch size (JAX, one {device.device_kind} device, 10-word sentences)",
        f"{'':22}" + "".join(f"{n:>10}" for n in sizes),
    ]
    for name, by in scaling.items():
        for kind in ("train", "decode"):
            cells = [by[n][kind] if n in by else np.nan for n in sizes]
            lines.append(f"{name + ' ' + kind:22}" + "".join(f"{c:>10,.0f}" for c in cells))
    return lines
