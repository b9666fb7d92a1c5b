"""Several JAX processes on this host (jax.distributed, gloo collectives on CPU), each test in
subprocesses that it ends: 2 processes x 1 device train like 1 process x 2 devices, write
one run folder, stop together when one dies, and resume on one process."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import ROOT, script, start_python

from revseq import cli

pytestmark = pytest.mark.integration

SETTINGS = [
    "--preset",
    "tiny",
    "--epochs",
    "2",
    "--n-train",
    "640",
    "--chunk",
    "4",
    "--jax-cache",
    "",
]
CRASH = Path(__file__).with_name("crash_train.py")


def losses(run: Path) -> list[tuple[float, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["train_loss"], r["val_loss"]) for r in rows]


def start(tmp: Path, flags: list[str], env: list[dict]) -> list[subprocess.Popen]:
    """Two processes of train.py (tests/crash_train.py where env[i] has REVSEQ_CRASH), output
    in tmp/out{i}, err{i}."""
    where = ["--coordinator", f"127.0.0.1:{cli.free_port()}", "--num-processes", "2"]
    return [
        start_python(
            str(CRASH if "REVSEQ_CRASH" in e else ROOT / "scripts/train.py"),
            *flags,
            *where,
            "--process-id",
            str(i),
            stdout=open(tmp / f"out{i}", "w"),
            stderr=open(tmp / f"err{i}", "w"),
            **e,
        )
        for i, e in enumerate(env)
    ]


def finish(procs: list[subprocess.Popen], timeout: float = 600) -> list[int]:
    """Wait for the processes; kill what is left after `timeout` seconds."""
    try:
        return [p.wait(timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A run of 2 processes x 1 device through scripts/launch.py."""
    root = tmp_path_factory.mktemp("two")
    proc = script("launch.py", "--processes", "2", "--", *SETTINGS, "--out", str(root / "run"))
    assert proc.returncode == 0, proc.stderr
    return root, proc


def test_two_processes_train_like_one_process_on_two_devices_and_write_one_folder(two, tmp_path):
    root, proc = two
    one = script(
        "train.py", *SETTINGS, "--devices", "2", "--out", str(tmp_path / "one"),
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
    )  # fmt: skip
    assert one.returncode == 0, one.stderr
    a, b = losses(root / "run"), losses(tmp_path / "one")
    assert len(a) == len(b) == 2
    assert (
        max(abs(x - y) for r, s in zip(a, b, strict=True) for x, y in zip(r, s, strict=True))
        <= 1e-6
    ), (a, b)
    # One folder, one log: process 0's (the launcher shows its output, the other logs nothing).
    assert sorted(p.name for p in root.iterdir()) == ["latest", "run"]
    assert proc.stdout.count("Backend jax on 2 cpu devices of 2 processes") == 1
    assert len(re.findall(r"Exact Match Accuracy", proc.stdout)) == 1
    assert (root / "run" / "report.md").is_file() and not list(root.glob("run/.*.tmp"))


def test_killing_one_process_ends_the_other_within_30_s_with_one_line(tmp_path):
    crash = {"REVSEQ_CRASH": "step:9"}  # process 1 is killed (SIGKILL) inside epoch 2
    procs = start(tmp_path, [*SETTINGS, "--out", str(tmp_path / "run")], [{}, crash])
    killed = procs[1].wait(600)
    died = time.monotonic()
    code = finish(procs[:1], timeout=60)[0]
    assert killed == -signal.SIGKILL
    assert code != 0 and time.monotonic() - died <= 30
    lines = [ln for ln in (tmp_path / "err0").read_text().splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("[Gloo]")]
    assert len(lines) == 1 and lines[0].startswith("error: process 0 of 2: a collective failed")


@pytest.mark.slow  # the long tier: CI's holds two processes training and one killed
def test_a_two_process_run_stopped_resumes_on_one_process(two, tmp_path):
    out = tmp_path / "run"
    stop = {"REVSEQ_CRASH": "step:9", "REVSEQ_CRASH_SIGNAL": "SIGINT"}  # Ctrl-C in epoch 2
    codes = finish(start(tmp_path, [*SETTINGS, "--out", str(out)], [stop, stop]))
    assert codes == [130, 130], [(tmp_path / f"err{i}").read_text() for i in (0, 1)]
    assert json.loads((out / "last.json").read_text())["epoch"] == 2
    proc = script("train.py", "--resume", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Resuming at epoch 2" in proc.stdout and "Exact Match Accuracy" in proc.stdout
    # Epoch 1 is the 2-process run's own; epoch 2 ends on 1 device (sums in another order).
    a, b = losses(out), losses(two[0] / "run")
    assert a[0] == b[0] and max(abs(x - y) for x, y in zip(a[1], b[1], strict=True)) <= 1e-5, (a, b)


@pytest.mark.slow
def test_two_processes_train_the_default_preset_to_100_percent(tmp_path):
    proc = script("launch.py", "--processes", "2", "--", "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    assert "Exact Match Accuracy: 100.00% (1000/1000)" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "run"]
