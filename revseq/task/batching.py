"""Numpy batches of static shapes: a few length buckets and a fixed batch size, with masks.

A batch is padded to its bucket's length S and, when short, with all-PAD rows up to B, so a
jitted step compiles once per bucket. PAD rows and PAD positions carry no weight anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from revseq.task.data import Sentence, reverse
from revseq.task.vocab import PAD, SOS, SPECIALS, UNK, Vocabulary


class Encoded(NamedTuple):
    """A split as padded index arrays: src [N, L], tgt [N, L], lengths [N] (EOS included)."""

    src: np.ndarray
    tgt: np.ndarray
    lengths: np.ndarray


# A batch's arrays are numpy on the host and the framework's own (jax.Array, torch.Tensor)
# inside a backend: the same record in every layer.
Array = Any


class Batch(NamedTuple):
    """One step's input. src [B, S]; tgt_in, tgt_out, force [B, T]; T == S here."""

    src: Array  # source word ids then EOS, PAD after
    tgt_in: Array  # SOS then the reversed words: what a forced decoder step reads
    tgt_out: Array  # reversed words then EOS: what each step must predict
    force: Array  # bool: step t reads tgt_in[:, t] (True) or its own last prediction


def encode(sentences: Sequence[Sentence], vocab: Vocabulary) -> Encoded:
    """Source = words + EOS; target = reversed words + EOS; both padded with PAD."""
    n = len(sentences)
    lengths = np.array([len(s) + 1 for s in sentences], dtype=np.int32)
    width = int(lengths.max(initial=1))
    src = np.full((n, width), PAD, dtype=np.int32)
    tgt = np.full((n, width), PAD, dtype=np.int32)
    for i, s in enumerate(sentences):
        src[i, : lengths[i]] = vocab.encode(s)
        tgt[i, : lengths[i]] = vocab.encode(reverse(s))
    return Encoded(src, tgt, lengths)


def with_unknowns(data: Encoded, rate: float, rng: np.random.Generator) -> Encoded:
    """A copy where each source word is <UNK> with probability `rate`, and so is the target
    word that mirrors it; with rate 0, `data` itself (and no draw from rng)."""
    if rate == 0:
        return data
    src, tgt = data.src.copy(), data.tgt.copy()
    rows, cols = np.nonzero((rng.random(src.shape) < rate) & (src >= len(SPECIALS)))
    src[rows, cols] = UNK
    tgt[rows, data.lengths[rows] - 2 - cols] = UNK  # word i of n sits at n - 1 - i; n = len - 1
    return Encoded(src, tgt, data.lengths)


def pad_length(length: int, edges: Sequence[int]) -> int:
    """The smallest edge that holds `length`; beyond the last edge, the next multiple of 8."""
    for e in edges:
        if length <= e:
            return e
    return -(-length // 8) * 8


def make_batch(
    data: Encoded,
    rows: np.ndarray,
    batch_size: int,
    *,
    length: int,
    force: np.ndarray | None = None,
) -> Batch:
    """Rows of `data` as one batch of shape [batch_size, length]; `force` defaults to all False."""
    src = np.full((batch_size, length), PAD, dtype=np.int32)
    tgt_out = np.full((batch_size, length), PAD, dtype=np.int32)
    width = min(length, data.src.shape[1])
    src[: len(rows), :width] = data.src[rows, :width]
    tgt_out[: len(rows), :width] = data.tgt[rows, :width]
    tgt_in = np.concatenate([np.full((batch_size, 1), SOS, np.int32), tgt_out[:, :-1]], axis=1)
    tgt_in[tgt_out == PAD] = PAD
    if force is None:
        force = np.zeros((batch_size, length), dtype=bool)
    return Batch(src, tgt_in, tgt_out, force)


def plan(
    lengths: np.ndarray,
    batch_size: int,
    edges: Sequence[int],
    *,
    rng: np.random.Generator | None = None,
    chunk: int = 1,
) -> list[tuple[np.ndarray, int]]:
    """Every row once as (row indices, padded length) per batch, grouped by bucket.

    With rng, rows are shuffled, and so is the order of the chunks: runs of `chunk` batches of
    one bucket (fewer at a bucket's end), which a backend may run as one call. Without rng,
    rows keep their order.
    """
    order = np.arange(len(lengths)) if rng is None else rng.permutation(len(lengths))
    bucket_of = np.array([pad_length(int(n), edges) for n in lengths[order]])
    runs: list[list[tuple[np.ndarray, int]]] = []
    for length in sorted(set(bucket_of.tolist())):
        rows = order[bucket_of == length]
        bs = [(rows[i : i + batch_size], length) for i in range(0, len(rows), batch_size)]
        runs.extend(bs[i : i + chunk] for i in range(0, len(bs), chunk))
    if rng is not None:
        runs = [runs[i] for i in rng.permutation(len(runs))]
    return [b for run in runs for b in run]


def batches(
    data: Encoded,
    batch_size: int,
    edges: Sequence[int],
    *,
    rng: np.random.Generator | None = None,
    teacher_forcing: float = 0.0,
    chunk: int = 1,
) -> list[Batch]:
    """The batches of `plan`; with rng each gets a forcing mask with P(True) = teacher_forcing."""
    out = []
    for rows, length in plan(data.lengths, batch_size, edges, rng=rng, chunk=chunk):
        force = None if rng is None else rng.random((batch_size, length)) < teacher_forcing
        out.append(make_batch(data, rows, batch_size, length=length, force=force))
    return out


def edges_for(max_len: int, min_len: int = 1, count: int = 2) -> tuple[int, ...]:
    """The `count` padded lengths (tokens, EOS included) spread evenly over sentences of
    min_len..max_len words: the shapes a run compiles."""
    edges = np.ceil(np.linspace(min_len, max_len + 1, count + 1)[1:]).astype(int)
    return tuple(sorted({int(e) for e in edges}))
