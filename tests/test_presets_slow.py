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


def test_the_default_preset_on_2_cpu_devices_reaches_100_percent(tmp_path):
    proc = script(
        "train.py", "--backend", "jax", "--devices", "2", "--out", str(tmp_path / "r"),
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "on 2 cpu devices" in proc.stdout
    assert accuracy(proc.stdout) == (100.0, 1000, 1000)
