"""Data parallelism on 8 (and 4) CPU devices, each test in a subprocess: XLA_FLAGS must be set
before jax starts, and the rest of the suite runs on one device."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from helpers import ROOT, script

pytestmark = pytest.mark.integration

# Five steps of the same batches from the same weights on a mesh of 8 devices and of 1; prints
# the largest difference of any array of the two training states, and where the arrays live.
# Two layers and dropout (the masks must not depend on the split), at the notebook's rate 1e-3:
# the sums over the batch run in another order, and Adam turns that rounding in gradients near
# zero into weight differences in proportion to the rate (measured 3.5e-7 here, 1.7e-6 at 5e-3).
FIVE_STEPS = """
import json
import numpy as np
from revseq.task.config import preset
from revseq.task.init import init_params
from revseq.training.run import epoch_batches, prepare
from revseq_jax.backend import Backend

cfg = preset("tiny").replace(
    num_layers=2, dropout=0.1, batch_size=64, n_train=640, lr=1e-3
)
rng = np.random.default_rng(cfg.train.seed)
task = prepare(cfg, rng)
batches = epoch_batches(cfg, data=task.train, edges=task.edges, rng=rng)[:5]
out = {}
for n in (8, 1):
    backend = Backend(cfg, 10, devices=n)
    state = backend.start(init_params(cfg.model, cfg.train.seed))
    state, metrics = backend.train_epoch(state, batches)
    weight = state.params["decoder"]["fc"]["weight"]
    placed = backend._place((batches[0].src[None], np.ones(1, bool)))[0]
    out[n] = {
        "snapshot": backend.snapshot(state),
        "updates": metrics["updates"],
        "param_devices": len(weight.sharding.device_set),
        "param_shard_rows": weight.addressable_shards[0].data.shape[0],
        "batch_shard_rows": placed.addressable_shards[0].data.shape[1],
    }
a, b = out[8].pop("snapshot"), out[1].pop("snapshot")
diff = max(float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in a)
print(json.dumps({"max_abs_diff": diff, "8": out[8], "1": out[1]}))
"""


def run_on(devices: int, code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_five_steps_on_8_devices_equal_five_steps_on_one():
    proc = run_on(8, FIVE_STEPS)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout.splitlines()[-1])
    # The mesh is real: params replicated whole on 8 devices, a batch of 64 split 8 rows each.
    assert r["8"] == {"updates": 5, "param_devices": 8, "param_shard_rows": 38,
                      "batch_shard_rows": 8}  # fmt: skip
    assert r["1"] == {"updates": 5, "param_devices": 1, "param_shard_rows": 38,
                      "batch_shard_rows": 64}  # fmt: skip
    assert 0 < r["max_abs_diff"] <= 1e-6, r["max_abs_diff"]  # summed in another order


def accuracy(stdout: str) -> str:
    m = re.search(r"Exact Match Accuracy: (\S+)", stdout)
    assert m, stdout
    return m[1]


@pytest.mark.slow  # a whole run on 4 devices: the five-step test holds the numbers in CI
def test_a_run_on_4_devices_reaches_the_accuracy_of_a_run_on_one(tmp_path):
    runs = {}
    for n in (4, 1):
        proc = script(
            "train.py", "--preset", "tiny", "--devices", str(n), "--out", str(tmp_path / str(n)),
            XLA_FLAGS="--xla_force_host_platform_device_count=4",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert f"{n} cpu device" in proc.stdout
        runs[n] = accuracy(proc.stdout)
    assert runs[4] == runs[1], runs
    # Decoding is not training: 3 devices, which split neither the batch of 32 nor the decode
    # batch, decode the 1-device model (rows replicated) to the same lines as one device.
    sentences = ["the cat sat", "big red car ran on the mat", "the zebra sat"]
    lines = [
        script("reverse.py", "--checkpoint", str(tmp_path / "1"), *sentences, **env).stdout
        for env in ({}, {"XLA_FLAGS": "--xla_force_host_platform_device_count=3"})
    ]
    assert lines[0] == lines[1] and len(lines[0].splitlines()) == 3, lines


def test_devices_that_do_not_exist_or_do_not_divide_the_batch_are_refused(tmp_path):
    for flags, message in [
        (["--devices", "4"], "this process sees 3 cpu device(s)"),
        (["--devices", "all"], "batch size 32 does not split over 3 devices"),
        (["--backend", "torch", "--devices", "2"], "--devices is for the JAX backend"),
    ]:
        out = tmp_path / "run"
        proc = script(
            "train.py", "--preset", "tiny", "--out", str(out), *flags,
            XLA_FLAGS="--xla_force_host_platform_device_count=3",
        )  # fmt: skip
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert message in proc.stderr
        assert not out.exists()  # refused before the run folder is made


def test_without_the_flag_a_run_takes_one_device_of_several(tmp_path):
    proc = script(
        "train.py", "--preset", "tiny", "--epochs", "1", "--out", str(tmp_path / "run"),
        XLA_FLAGS="--xla_force_host_platform_device_count=3",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Backend jax on 1 cpu device |" in proc.stdout
