"""scripts/doctor.py, the install check, end to end on this machine's CPU."""

import pytest
from helpers import script

pytestmark = pytest.mark.integration


def test_doctor_passes_here_and_ends_with_its_verdict():
    proc = script("doctor.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("doctor: OK | parity within 1e-05"), lines[-1]
    assert any(line.startswith("jax platform cpu") for line in lines)
    assert "parity, greedy tokens equal: True" in lines
