"""A model trained by one backend decodes its test set to the same tokens in the other."""

from pathlib import Path

import numpy as np
import pytest

from revseq.inference import Model
from revseq.task.batching import edges_for, encode, make_batch, plan
from revseq.task.conventions import EVAL_BATCH
from revseq.training.run_folder import read_test


@pytest.fixture(params=["jax", "torch"])
def trained(request, trained_run):
    """The session's tiny run trained by `scripts/train.py --backend <param>`."""
    return request.param, trained_run(request.param, "tiny")


def decode_all(folder: Path, backend: str):
    """Tokens and attention of every test sentence, batch by batch, as the backend gives them."""
    model = Model.load(folder, backend)
    sentences = read_test(folder)
    data = encode(sentences, model.ckpt.vocab)
    edges = edges_for(model.ckpt.config.data.max_len, model.ckpt.config.data.min_len)
    out = []
    for rows, length in plan(data.lengths, EVAL_BATCH, edges):
        out.append(
            model.backend.decode(
                model.params, make_batch(data, rows, EVAL_BATCH, length=length).src
            )
        )
    return out


def test_the_other_backend_decodes_the_test_set_to_the_same_tokens(trained):
    trained_by, folder = trained
    other = {"jax": "torch", "torch": "jax"}[trained_by]
    mine, theirs = decode_all(folder, trained_by), decode_all(folder, other)
    for (tok_a, att_a), (tok_b, att_b) in zip(mine, theirs, strict=True):
        np.testing.assert_array_equal(tok_a, tok_b)
        np.testing.assert_allclose(att_a, att_b, atol=1e-5)
