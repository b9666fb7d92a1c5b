"""The accelerator check (benchmarks/accelerator_check.sh) end to end on this machine's CPU, in
its smoke mode, so that it cannot rot: `revseq doctor` passes, the notebook's loop and ours
give their epoch times side by side, the step times by batch come out."""

import pytest
from helpers import run_python

pytestmark = pytest.mark.integration


def test_the_accelerator_check_runs_here_and_doctor_passes(tmp_path):
    proc = run_python("benchmarks/accelerator_check.sh", "--smoke", str(tmp_path), program="bash")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doctor = (tmp_path / "doctor.txt").read_text().strip().splitlines()
    assert doctor[-1].startswith("doctor: OK | parity within 1e-05"), doctor[-1]
    assert any(line.startswith("jax platform cpu") for line in doctor)
    assert "parity, greedy tokens equal: True" in doctor
    assert "seed settings, epoch 1: the notebook's loop" in (tmp_path / "epochs.txt").read_text()
    steps = (tmp_path / "steps.txt").read_text()
    assert "scan unroll 1, by batch: 16:" in steps and "scan unroll 2" in steps
