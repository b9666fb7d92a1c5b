"""Settings and shared fixtures of every test session (tests/ and parity_tests/), on whatever
device JAX picks.

Rank promotion raises, as in Equinox's tests: adding a [3H] bias to a [B, 3H] product must be
written as an explicit broadcast, so a silently broadcast shape bug fails the tests instead.

Float32 matmuls run at full precision where numbers are compared: JAX's default on TPUs is
bfloat16 passes and on recent NVIDIA GPUs TF32, either of which misses the suites' 1e-5 by
orders of magnitude while the implementation is right; torch's TF32 is turned off likewise.
Cases in float64 are skipped, with the reason, on a platform without float64 (TPU).

What is expensive is made once per session, also across pytest-xdist's workers: the runs of
`scripts/train.py` that many tests read (`trained_run`), and every compiled program that took
a second or more (JAX's persistent cache in the session's temporary folder, for the tests and
the scripts they launch).
"""

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import jax
import pytest
import torch
from filelock import FileLock

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_default_matmul_precision", "highest")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

HAS_FLOAT64 = jax.default_backend() != "tpu"
ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tests"))  # tests/helpers.py: the one way the tests start processes
from helpers import run_python  # noqa: E402


def pytest_configure(config):
    """Set before xdist starts its workers, which inherit it: the scripts the tests launch share
    one compilation cache, new for this session and never the user's own; with several
    workers, torch runs one thread in each (and in what they launch), since workers that each
    spin several threads over the same cores slow every one of them many times over."""
    if "REVSEQ_JAX_CACHE" not in os.environ:
        os.environ["REVSEQ_JAX_CACHE"] = tempfile.mkdtemp(prefix="revseq-test-jax-cache-")
    # The tests' own process too: the same train steps are compiled by many tests. Every
    # program is kept, however quick its compile: the suite compiles the same small ones again
    # and again, in its workers and in the processes they start.
    jax.config.update("jax_compilation_cache_dir", os.environ["REVSEQ_JAX_CACHE"])
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    if (config.getoption("numprocesses", None) or 0) > 1:
        os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_collection_modifyitems(items):
    """Skip JAX float64 cases (marked `float64`, or parity cases with "f64" in their id) on a
    platform without float64."""
    if HAS_FLOAT64:
        return
    skip = pytest.mark.skip(reason=f"no float64 on {jax.default_backend()}")
    for item in items:
        if "f64" in item.name or item.get_closest_marker("float64"):
            item.add_marker(skip)


def made_once(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """tmp/<name>, filled by make(folder) once per session: the first worker to ask makes it
    while the others wait on a file lock (pytest-xdist's recipe for session fixtures)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the folder all workers share
    return made_once_in(root, name, make)


def made_once_in(root: Path, name: str, make: Callable[[Path], None]) -> Path:
    """root/<name>, filled by make(folder) unless a `.done` mark says it was, under its lock."""
    folder, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            make(folder)
            done.touch()
    return folder


def train_py(out: Path, *flags: str) -> None:
    """`python scripts/train.py --out out FLAGS` as a user runs it; its stdout kept in
    out/stdout.txt."""
    proc = run_python(str(ROOT / "scripts" / "train.py"), "--out", str(out), *flags)
    assert proc.returncode == 0, proc.stderr
    (out / "stdout.txt").write_text(proc.stdout)


def make_run(backend: str, preset: str) -> Callable[[Path], None]:
    """What trained_run(backend, preset) makes: the run, alone in its folder."""
    return lambda folder: train_py(folder / "run", "--backend", backend, "--preset", preset)


# The runs nearly every tier's session reads, made from its start on a thread of the main
# process (under xdist the controller, which only waits): no worker then idles on their lock.
AHEAD = {
    "not slow and not integration": (("jax", "tiny"), ("torch", "tiny")),
    "integration and not slow": (("jax", "tiny"),),
}


def pytest_sessionstart(session):
    """On a whole tier's run (the tests' own folders, a tier of AHEAD), make its AHEAD runs at
    once, beside the tests, through the same lock the fixture takes."""
    config = session.config
    if (
        os.environ.get("PYTEST_XDIST_WORKER")
        or config.args_source != pytest.Config.ArgsSource.TESTPATHS
        or config.option.markexpr not in AHEAD
    ):
        return
    root = config._tmp_path_factory.getbasetemp()

    def ahead() -> None:
        for backend, preset in AHEAD[config.option.markexpr]:
            with contextlib.suppress(Exception):  # a failure shows again in the fixture
                made_once_in(root, f"{backend}-{preset}", make_run(backend, preset))

    threading.Thread(target=ahead, daemon=True).start()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Callable[[str, str], Path]:
    """trained_run(backend, preset) -> the folder of a real `train.py --backend B --preset P`
    run (its output in stdout.txt), made on first use, once per session, alone in its parent
    folder (whose `latest` link points at it). Tests only read it."""

    def get(backend: str = "jax", preset: str = "tiny") -> Path:
        return made_once(tmp_path_factory, f"{backend}-{preset}", make_run(backend, preset)) / "run"

    return get
