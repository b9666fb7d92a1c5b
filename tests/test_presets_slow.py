"""The presets' promises, end to end (slow: select with `pytest -m slow`)."""

import numpy as np
import pytest
from helpers import accuracy, script

from revseq.inference import Model
from revseq.report.metrics import accuracy_by_length
from revseq.task.data import random_sentences, task_words

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("preset, least", [("default", 100.0), ("seed", 99.9)])
def test_preset_reaches_its_promised_test_accuracy(tmp_path, preset, least):
    proc = script("train.py", "--backend", "jax", "--preset", preset, "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    pct, _, total = accuracy(proc.stdout)
    assert total == 1000 and pct >= least


def test_the_default_preset_on_2_cpu_devices_reaches_100_percent(tmp_path):
    proc = script(
        "train.py", "--backend", "jax", "--devices", "2", "--out", str(tmp_path / "r"),
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "on 2 cpu devices" in proc.stdout
    assert accuracy(proc.stdout) == (100.0, 1000, 1000)


def test_the_long_preset_reverses_every_length_from_1_to_30_words(tmp_path):
    """Trained on 3-10 words: 100 % on its test split and at least 99 % at each unseen length
    from 1 to 30 words (docs/length-generalisation.md)."""
    out = tmp_path / "r"
    proc = script("train.py", "--backend", "jax", "--preset", "long", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert accuracy(proc.stdout) == (100.0, 1000, 1000)
    model = Model.load(out, "jax")
    words = task_words(model.ckpt.config.data.n_words)
    lengths = [1, 2, *range(11, 31)]
    sentences = random_sentences(words, lengths, 100, rng=np.random.default_rng(7))
    by_length = accuracy_by_length(model.decode(sentences, restore_unk=False))
    low = {n: f"{c}/{t}" for n, (c, t) in by_length.items() if c < 0.99 * t}
    assert not low, f"under 99 % at {low}"
