"""A NaN in training stops the run naming the epoch and step, and best and last keep the last
finite model; a checkpoint file never holds NaN."""

import json

import numpy as np
import pytest

from revseq.errors import RevseqError
from revseq.task.config import preset
from revseq.task.data import WORDS
from revseq.task.layout import param_shapes
from revseq.task.vocab import Vocabulary
from revseq.training import checkpoint, run
from revseq_jax.backend import Backend

CFG = preset("tiny").replace(epochs=3, n_train=320)


def test_a_nan_in_epoch_2_stops_the_run_there_and_keeps_best_and_last(tmp_path, monkeypatch):
    """From epoch 2 on, the word "cat" has a NaN encoder embedding: the first step reading it
    is non-finite."""
    word = Vocabulary(WORDS).stoi["cat"]
    real, calls = Backend.train_epoch, []

    def poisoned(self, state, batches, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            emb = state.params["encoder"]["embedding"]
            emb["weight"] = emb["weight"].at[word].set(np.nan)
        return real(self, state, batches, *args, **kwargs)

    monkeypatch.setattr(Backend, "train_epoch", poisoned)
    rng = np.random.default_rng(CFG.train.seed)
    task = run.prepare(CFG, rng)
    run.epoch_batches(CFG, data=task.train, edges=task.edges, rng=rng)  # epoch 1's draws
    epoch2 = run.epoch_batches(CFG, data=task.train, edges=task.edges, rng=rng)
    step = 1 + next(i for i, b in enumerate(epoch2) if (b.src == word).any())

    with pytest.raises(RevseqError, match=f"at epoch 2, step {step} of {len(epoch2)}"):
        run.train(CFG, "jax", tmp_path / "run", log=lambda s: None)
    out = tmp_path / "run"
    assert checkpoint.load(out).extra["epoch"] == 1
    last = json.loads((out / "last.json").read_text())
    assert (last["epoch"], last["position"], len(last["history"])) == (2, 0, 1)


def test_a_checkpoint_with_nan_is_refused_before_anything_is_written(tmp_path):
    params = {k: np.zeros(s, np.float32) for k, s in param_shapes(CFG.model).items()}
    params["decoder.fc.bias"][0] = np.inf
    with pytest.raises(RevseqError, match=r"decoder\.fc\.bias holds NaN or Inf"):
        checkpoint.save(tmp_path, params, config=CFG, vocab=Vocabulary(WORDS))
    assert not list(tmp_path.iterdir())
