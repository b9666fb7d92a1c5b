"""A state_dict saved by the notebook's own classes imports into revseq, decodes to the same
tokens as the notebook's model on unpadded sentences (both backends), and exports back."""

import json
import subprocess
import sys
from pathlib import Path

import notebook
import numpy as np
import pytest
import torch

from revseq.inference import Model
from revseq.task.data import WORDS
from revseq.task.vocab import EOS

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = [
    ["the", "cat", "sat"],
    ["big", "red", "car", "ran", "over", "the", "old", "tree"],
    ["fox"],
    ["hot", "cold", "new", "old", "fast", "slow", "sad", "happy", "fish", "bird"],
]


def convert(*args):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "convert.py"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def notebook_model(tmp_path_factory):
    """The notebook's model with random weights, its vocabulary (words in a data-dependent
    order, as the notebook builds it), saved the notebook's way, and imported."""
    tmp = tmp_path_factory.mktemp("nb")
    order = list(np.random.default_rng(3).permutation(WORDS))
    word2idx = {"<PAD>": 0, "<SOS>": 1, "<EOS>": 2, "<UNK>": 3}
    word2idx.update({w: i + 4 for i, w in enumerate(order)})
    (tmp / "vocab.json").write_text(json.dumps(word2idx))
    torch.manual_seed(0)
    nb = notebook.build(len(word2idx), embed_dim=16, hidden_dim=32, num_layers=2).eval()
    torch.save(nb.state_dict(), tmp / "best_model.pt")
    convert("import", tmp / "best_model.pt", "--vocab", tmp / "vocab.json", "--out", tmp / "run")
    return nb, word2idx, tmp


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_imported_notebook_weights_decode_to_the_notebooks_tokens(notebook_model, backend):
    nb, word2idx, tmp = notebook_model
    model = Model.load(tmp / "run", backend)
    src = np.zeros((len(SENTENCES), 12), np.int32)
    for i, s in enumerate(SENTENCES):
        src[i, : len(s) + 1] = [word2idx[w] for w in s] + [EOS]
    tokens, attention = model.backend.decode(model.params, src)
    for i, s in enumerate(SENTENCES):
        ids = torch.LongTensor([word2idx[w] for w in s] + [EOS])  # unpadded, as the notebook
        nb_tokens, nb_attention = notebook.predict_with_attention(nb, ids)
        steps = int((attention[i].sum(-1) > 0).sum())
        assert steps == min(len(nb_tokens), len(s) + 1 + 4)
        assert tokens[i, :steps].tolist() == nb_tokens[:steps], f"sentence {i}"
        np.testing.assert_allclose(
            attention[i, :steps, : len(s) + 1],
            nb_attention[:steps],
            atol=1e-5,
            err_msg=f"sentence {i}",
        )


def test_a_run_folder_exports_to_a_state_dict_the_notebook_loads(notebook_model):
    nb, word2idx, tmp = notebook_model
    convert("export", tmp / "run", "--out", tmp / "back.pt")
    fresh = notebook.build(len(word2idx), embed_dim=16, hidden_dim=32, num_layers=2)
    fresh.load_state_dict(torch.load(tmp / "back.pt", weights_only=True))
    for k, v in nb.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k


def test_importing_a_non_state_dict_fails_cleanly(tmp_path):
    bad = tmp_path / "x.pt"
    torch.save({"a": [1, 2]}, bad)
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "convert.py"),
            "import",
            str(bad),
            "--vocab",
            str(tmp_path / "v.json"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "o").exists()
