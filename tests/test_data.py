"""The task, the vocabulary and the static-shape batches."""

import numpy as np
import pytest

from revseq.errors import RevseqError
from revseq.task.batching import batches, edges_for, encode, make_batch, pad_length, plan
from revseq.task.config import DataConfig
from revseq.task.data import WORDS, make_splits, reverse
from revseq.task.vocab import EOS, PAD, SOS, UNK, Vocabulary


def test_splits_are_disjoint_deterministic_and_in_range():
    cfg = DataConfig(n_train=500, n_val=100, n_test=100, min_len=3, max_len=10)
    a = make_splits(cfg, np.random.default_rng(1))
    b = make_splits(cfg, np.random.default_rng(1))
    assert a == b
    train, val, test = set(a.train), set(a.val), set(a.test)
    assert len(train) == 500 and len(val) == 100 and len(test) == 100
    assert not (train & val or train & test or val & test)
    assert {len(s) for s in a.train} == set(range(3, 11))
    assert all(w in WORDS for s in a.train for w in s)


def test_too_many_sentences_for_the_task_is_an_error():
    with pytest.raises(RevseqError):
        make_splits(
            DataConfig(n_train=2000, n_val=1, n_test=1, min_len=1, max_len=2),
            np.random.default_rng(0),
        )


def test_vocab_encode_decode_and_json():
    v = Vocabulary(WORDS)
    assert len(v) == 38 and v.itos[:4] == ["<PAD>", "<SOS>", "<EOS>", "<UNK>"]
    ids = v.encode(["the", "zebra", "sat"])
    assert ids == [v.stoi["the"], UNK, v.stoi["sat"], EOS]
    assert v.decode([SOS, *ids, v.stoi["cat"]]) == ["the", "<UNK>", "sat"]
    assert Vocabulary.from_json(v.to_json()) == v
    with pytest.raises(RevseqError):
        Vocabulary.from_json(["a", "b"])


def test_batch_shapes_shift_and_padding_rows():
    v = Vocabulary(WORDS)
    sents = [("the", "cat", "sat"), ("big", "red", "car", "ran")]
    data = encode(sents, v)
    b = make_batch(data, np.array([0, 1]), batch_size=4, length=7)
    assert b.src.shape == b.tgt_in.shape == b.tgt_out.shape == b.force.shape == (4, 7)
    assert list(b.src[0]) == [*v.encode(sents[0]), PAD, PAD, PAD]
    assert list(b.tgt_out[0]) == [*v.encode(reverse(sents[0])), PAD, PAD, PAD]
    assert list(b.tgt_in[0]) == [SOS, *v.encode(reverse(sents[0]), add_eos=False), PAD, PAD, PAD]
    assert (b.src[2:] == PAD).all() and (b.tgt_out[2:] == PAD).all()


def test_buckets_cover_every_row_once_with_few_shapes():
    v = Vocabulary(WORDS)
    sp = make_splits(DataConfig(n_train=300, n_val=1, n_test=1), np.random.default_rng(0))
    data = encode(sp.train, v)
    edges = edges_for(10, 3, 2)
    assert edges == (7, 11)
    rng = np.random.default_rng(0)
    bs = batches(data, 64, edges, rng=rng, teacher_forcing=0.5)
    assert {b.src.shape for b in bs} == {(64, 7), (64, 11)}
    rows = np.concatenate(
        [r for r, _ in plan(data.lengths, 64, edges, rng=np.random.default_rng(0))]
    )
    assert sorted(rows.tolist()) == list(range(300))
    assert sum(int((b.tgt_out != PAD).sum()) for b in bs) == int(data.lengths.sum())
    force = np.concatenate([b.force.ravel() for b in bs])
    assert 0.4 < force.mean() < 0.6
    assert pad_length(12, edges) == 16


@pytest.mark.parametrize("chunk", [1, 3, 4])
def test_chunks_are_runs_of_one_length_and_chunk_1_is_the_plain_shuffle(chunk):
    """Batches come in runs of `chunk` of one bucket (fewer only at a bucket's end); every row
    still appears once; with chunk 1 the order is the batch-level shuffle itself."""
    lengths = np.random.default_rng(3).integers(4, 12, size=700)
    edges = (7, 11)
    p = plan(lengths, 16, edges, rng=np.random.default_rng(5), chunk=chunk)
    rows = np.concatenate([r for r, _ in p])
    assert sorted(rows.tolist()) == list(range(700))
    blocks, i = [], 0  # maximal runs of one length: whole chunks, and at most one short one
    while i < len(p):
        j = i
        while j < len(p) and p[j][1] == p[i][1]:
            j += 1
        blocks.append(j - i)
        i = j
    assert sum(n % chunk != 0 for n in blocks) <= len(edges)  # a bucket's last chunk is short
    assert len(blocks) > len(edges)  # and the chunks are shuffled, not bucket after bucket
    if chunk == 1:
        rng = np.random.default_rng(5)
        order = rng.permutation(700)
        bucket_of = np.array([pad_length(int(n), edges) for n in lengths[order]])
        expect = [
            (order[bucket_of == e][i : i + 16], e)
            for e in edges
            for i in range(0, int((bucket_of == e).sum()), 16)
        ]
        expect = [expect[k] for k in rng.permutation(len(expect))]
        assert all((a == b).all() and x == y for (a, x), (b, y) in zip(p, expect, strict=True))
