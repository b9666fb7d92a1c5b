"""Checkpoints: round trip (no temporary file left), and every defect named in one RevseqError."""

import json
import pickle

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save as st_save

from revseq.errors import RevseqError
from revseq.task.config import preset
from revseq.task.data import WORDS
from revseq.task.layout import param_shapes
from revseq.task.vocab import Vocabulary
from revseq.training import checkpoint

CFG = preset("tiny")


@pytest.fixture
def saved(tmp_path):
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=s).astype(np.float32) for k, s in param_shapes(CFG.model).items()}
    checkpoint.save(tmp_path, params, config=CFG, vocab=Vocabulary(WORDS), extra={"epoch": 3})
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
    p = folder / "best.safetensors"
    p.write_bytes(p.read_bytes()[:100])


def _flip_byte(folder):
    p = folder / "best.safetensors"
    b = bytearray(p.read_bytes())
    b[-5] ^= 0xFF
    p.write_bytes(bytes(b))


def _edit_meta(folder, change):
    """Rewrite the metadata that best.safetensors carries, tensors untouched."""
    p = folder / "best.safetensors"
    with safe_open(p, "np") as f:
        text = f.metadata()["revseq"]
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    p.write_bytes(st_save(tensors, metadata={"revseq": change(text)}))


def _bad_json(folder):
    _edit_meta(folder, lambda text: "{not json")


def _old_version(folder):
    _edit_meta(folder, lambda text: json.dumps({**json.loads(text), "format_version": 99}))


def _set_model(field, value):
    """A damage that sets one ModelConfig field in the embedded metadata."""

    def damage(folder):
        def change(text):
            meta = json.loads(text)
            meta["config"]["model"][field] = value
            return json.dumps(meta)

        _edit_meta(folder, change)

    return damage


def _pickle(folder):
    (folder / "best.safetensors").write_bytes(pickle.dumps({"a": 1}))


def _missing(folder):
    (folder / "best.safetensors").unlink()


@pytest.mark.parametrize(
    "damage, words",
    [
        (_truncate, "truncated or corrupt"),
        (_flip_byte, "do not match their digest"),
        (_bad_json, "not a revseq safetensors file"),
        (_old_version, "format_version"),
        (_set_model("hidden_dim", 65), "shape"),
        (_set_model("dropout", 5.0), "dropout"),
        (_pickle, "never unpickles"),
        (_missing, "best.safetensors is missing"),
    ],
)
def test_damaged_checkpoints_are_refused_with_a_reason(saved, damage, words):
    folder, _ = saved
    damage(folder)
    with pytest.raises(RevseqError, match=words):
        checkpoint.load(folder)


def test_the_weights_file_alone_is_the_commit_point(saved, tmp_path):
    """A crash after the weights' rename but before the sidecar's leaves the new checkpoint."""
    folder, _ = saved
    rng = np.random.default_rng(1)
    newer = {k: rng.normal(size=s).astype(np.float32) for k, s in param_shapes(CFG.model).items()}
    checkpoint.save(tmp_path / "b", newer, config=CFG, vocab=Vocabulary(WORDS), extra={"epoch": 4})
    (folder / "best.safetensors").write_bytes((tmp_path / "b" / "best.safetensors").read_bytes())
    ck = checkpoint.load(folder)  # best.json still describes epoch 3
    assert ck.extra == {"epoch": 4}
    for k in newer:
        np.testing.assert_array_equal(ck.params[k], newer[k])
    (folder / "best.json").write_text("{not json")  # the readable copy is not needed
    assert checkpoint.load(folder).extra == {"epoch": 4}


def test_a_pickle_file_given_as_checkpoint_is_refused(tmp_path):
    p = tmp_path / "best_model.pt"
    p.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(RevseqError, match="never unpickles"):
        checkpoint.load(p)


def test_the_attention_settings_and_their_weights_round_trip(tmp_path):
    """A location-attention model with a learned first state: the config fields come back and
    so do F, U and h0, in the layout's order."""
    cfg = preset("long").replace(decoder_init="learned")
    rng = np.random.default_rng(2)
    params = {k: rng.normal(size=s).astype(np.float32) for k, s in param_shapes(cfg.model).items()}
    assert {"decoder.attention.F.weight", "decoder.attention.U.weight", "decoder.h0"} <= set(params)
    checkpoint.save(tmp_path, params, config=cfg, vocab=Vocabulary(WORDS))
    ck = checkpoint.load(tmp_path)
    assert ck.config == cfg and list(ck.params) == list(params)
    m = json.loads((tmp_path / "best.json").read_text())["config"]["model"]
    assert (m["attention"], m["attention_prior"], m["decoder_init"]) == (
        "location",
        "eos",
        "learned",
    )


def test_a_checkpoint_from_before_the_attention_settings_loads_as_bahdanau(saved, tmp_path):
    """Written before ModelConfig had attention, attention_prior, location_* and decoder_init:
    it loads as the notebook's attention, started from the encoder's final state."""
    folder, params = saved
    meta = json.loads((folder / "best.json").read_text())
    meta = {k: v for k, v in meta.items() if k not in ("format_version", "weights_sha256")}
    new = ("attention", "attention_prior", "location_filters", "location_width", "decoder_init")
    meta["config"]["model"] = {k: v for k, v in meta["config"]["model"].items() if k not in new}
    checkpoint.write(tmp_path, checkpoint.BEST, tensors=params, meta=meta)
    model = checkpoint.load(tmp_path).config.model
    assert (model.attention, model.decoder_init) == ("bahdanau", "encoder") and model == CFG.model
