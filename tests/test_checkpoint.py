"""Checkpoints: round trip (no temporary file left), and every defect named in one RevseqError."""

import json
import pickle

import numpy as np
import pytest

from revseq import checkpoint
from revseq.config import preset
from revseq.data import WORDS
from revseq.errors import RevseqError
from revseq.layout import param_shapes
from revseq.vocab import Vocabulary

CFG = preset("tiny")


@pytest.fixture
def saved(tmp_path):
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=s).astype(np.float32) for k, s in param_shapes(CFG.model).items()}
    checkpoint.save(tmp_path, params, CFG, Vocabulary(WORDS), {"epoch": 3})
    return tmp_path, params


def test_round_trip(saved):
    folder, params = saved
    ck = checkpoint.load(folder)
    assert ck.config == CFG and ck.vocab == Vocabulary(WORDS) and ck.extra == {"epoch": 3}
    assert list(ck.params) == list(params)
    for k in params:
        np.testing.assert_array_equal(ck.params[k], params[k])
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def _truncate(folder):
    p = folder / "model.safetensors"
    p.write_bytes(p.read_bytes()[:100])


def _flip_byte(folder):
    p = folder / "model.safetensors"
    b = bytearray(p.read_bytes())
    b[-5] ^= 0xFF
    p.write_bytes(bytes(b))


def _bad_json(folder):
    (folder / "model.json").write_text("{not json")


def _old_version(folder):
    meta = json.loads((folder / "model.json").read_text())
    meta["format_version"] = 99
    (folder / "model.json").write_text(json.dumps(meta))


def _wrong_shape(folder):
    meta = json.loads((folder / "model.json").read_text())
    meta["config"]["model"]["hidden_dim"] = 65
    (folder / "model.json").write_text(json.dumps(meta))


def _pickle(folder):
    (folder / "model.safetensors").write_bytes(pickle.dumps({"a": 1}))


def _missing(folder):
    (folder / "model.json").unlink()


@pytest.mark.parametrize(
    "damage, words",
    [
        (_truncate, "does not match"),
        (_flip_byte, "does not match"),
        (_bad_json, "not valid JSON"),
        (_old_version, "format_version"),
        (_wrong_shape, "shape"),
        (_pickle, "never unpickles"),
        (_missing, "model.json is missing"),
    ],
)
def test_damaged_checkpoints_are_refused_with_a_reason(saved, damage, words):
    folder, _ = saved
    damage(folder)
    with pytest.raises(RevseqError, match=words):
        checkpoint.load(folder)


def test_a_pickle_file_given_as_checkpoint_is_refused(tmp_path):
    p = tmp_path / "best_model.pt"
    p.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(RevseqError, match="never unpickles"):
        checkpoint.load(p)
