"""Runs killed (SIGKILL mid-epoch or mid-write) or stopped (Ctrl-C) and then resumed end with
the files of an uninterrupted run, bit for bit; the same seed gives the same metrics twice."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest
from helpers import run_file, script
from safetensors.numpy import load_file

from revseq.training import checkpoint, resume

# Three short epochs of about 21 batches in two length buckets, 4 batches per JAX call.
SETTINGS = ["--preset", "tiny", "--epochs", "3", "--n-train", "640", "--chunk", "4"]
# The training call during which to crash: inside epoch 2 (calls of up to 4 batches: JAX's
# compiled calls, torch's reports every --chunk steps).
MID_EPOCH_2 = {"jax": "9", "torch": "9"}
# Torch with dropout: its generator's state (rng.state in `last`) must come back exactly too.
FLAGS = {"jax": [], "torch": ["--dropout", "0.1"]}


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> dict[str, Path]:
    """Uninterrupted runs, made on first use, one per backend."""
    root, made = tmp_path_factory.mktemp("reference"), {}

    def get(backend: str) -> Path:
        if backend not in made:
            out = root / backend
            proc = script(
                "train.py", *SETTINGS, *FLAGS[backend], "--backend", backend, "--out", str(out)
            )
            assert proc.returncode == 0, proc.stderr
            made[backend] = out
        return made[backend]

    return get


def start(out: Path, backend: str = "jax", **env: str):
    """train.py, crashing where REVSEQ_CRASH says (tests/crash_train.py)."""
    crash = Path(__file__).with_name("crash_train.py")
    return run_file(
        crash, *SETTINGS, *FLAGS[backend], "--backend", backend, "--out", str(out), **env
    )


def metrics(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def assert_same_run(a: Path, b: Path) -> None:
    """Equal best and last tensors (params, optimizer state, counts, key) and metrics."""
    for name in ("best", "last"):
        x, y = load_file(a / f"{name}.safetensors"), load_file(b / f"{name}.safetensors")
        assert sorted(x) == sorted(y)
        for k in x:
            assert x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k]), f"{name}: {k}"
    assert metrics(a) == metrics(b)
    assert not list(b.glob(".*.tmp"))


def resume_ok(out: Path) -> str:
    proc = script("train.py", "--resume", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Exact Match Accuracy" in proc.stdout
    return proc.stdout


def last_meta(out: Path) -> dict:
    return json.loads((out / "last.json").read_text())


@pytest.mark.parametrize("backend", ["jax", pytest.param("torch", marks=pytest.mark.integration)])
def test_sigkill_mid_epoch_then_resume_equals_the_uninterrupted_run(references, tmp_path, backend):
    out = tmp_path / "run"
    proc = start(out, backend, REVSEQ_CRASH=f"step:{MID_EPOCH_2[backend]}")
    assert proc.returncode == -signal.SIGKILL
    meta = last_meta(out)  # the state at the end of epoch 1: epoch 2 had begun
    assert (meta["epoch"], meta["position"]) == (2, 0) and len(metrics(out)) == 1
    assert "Resuming at epoch 2, batch 0" in resume_ok(out)
    assert_same_run(references(backend), out)


@pytest.mark.integration
@pytest.mark.parametrize("name", ["last", pytest.param("best", marks=pytest.mark.slow)])
def test_sigkill_while_writing_a_checkpoint_leaves_the_previous_one_loadable(
    references, tmp_path, name
):
    out = tmp_path / "run"
    proc = start(out, REVSEQ_CRASH=f"write:{name}.safetensors:2")  # its write after epoch 2
    assert proc.returncode == -signal.SIGKILL
    assert list(out.glob(f".{name}.safetensors.*.tmp")), "the kill came mid-write"
    if name == "last":
        best = checkpoint.load(out)
        _, progress = resume.load(out, config=best.config, vocab=best.vocab, backend="jax")
        assert (progress.epoch, len(progress.history)) == (2, 1)  # the one written after epoch 1
    else:
        assert checkpoint.load(out).extra["epoch"] == 1
    resume_ok(out)
    assert_same_run(references("jax"), out)


@pytest.mark.integration
def test_ctrl_c_mid_epoch_saves_last_says_how_to_resume_and_resumes_exactly(references, tmp_path):
    out = tmp_path / "run"
    proc = start(out, REVSEQ_CRASH="step:9", REVSEQ_CRASH_SIGNAL="SIGINT")
    assert proc.returncode == 130
    assert f"--resume {out}" in proc.stderr.splitlines()[-1] and "Traceback" not in proc.stderr
    meta = last_meta(out)
    assert meta["epoch"] == 2 and 0 < meta["position"] < 21, meta["position"]
    assert f"Resuming at epoch 2, batch {meta['position']}" in resume_ok(out)
    assert_same_run(references("jax"), out)


@pytest.mark.integration
def test_same_seed_same_metrics_the_run_recorded_and_a_finished_run_resumed_is_only_reported(
    references, tmp_path
):
    out = tmp_path / "again"
    assert start(out).returncode == 0
    assert metrics(out) == metrics(references("jax"))
    record = json.loads((out / "run.json").read_text())
    assert record["backend"] == "jax" and record["config"]["train"]["epochs"] == 3
    (run,) = record["runs"]
    assert "train.py" in run["command"] and "--n-train 640" in run["command"]
    assert {"numpy", "jax", "jaxlib", "safetensors"} <= set(run["versions"])

    before = (out / "best.safetensors").read_bytes()
    text = resume_ok(out)
    assert "Training had finished" in text and "Epoch 0" not in text
    assert (out / "best.safetensors").read_bytes() == before
    assert len(json.loads((out / "run.json").read_text())["runs"]) == 2
