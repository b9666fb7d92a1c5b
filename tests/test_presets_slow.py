"""The presets' promises, end to end (slow: select with `pytest -m slow`)."""

import pytest
from helpers import script
from test_scripts import accuracy

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("preset, least", [("default", 100.0), ("seed", 99.9)])
def test_preset_reaches_its_promised_test_accuracy(tmp_path, preset, least):
    proc = script("train.py", "--backend", "jax", "--preset", preset, "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    pct, _, total = accuracy(proc.stdout)
    assert total == 1000 and pct >= least
