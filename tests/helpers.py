"""Helpers shared by the tests."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from revseq.vocab import EOS, PAD


def ragged_src(lengths, vocab_size=12, width=None, seed=0) -> np.ndarray:
    """Rows of random word ids (4..V-1) then EOS, PAD-padded to width."""
    rng = np.random.default_rng(seed)
    width = width or max(lengths) + 1
    src = np.full((len(lengths), width), PAD, np.int32)
    for i, n in enumerate(lengths):
        src[i, :n] = rng.integers(4, vocab_size, n)
        src[i, n] = EOS
    return src


ROOT = Path(__file__).resolve().parents[1]


def script(name: str, *args: str, stdin: bytes | None = None, **env: str):
    """Run scripts/<name> with this interpreter (extra environment variables as keywords);
    returns the finished process, its output decoded."""
    return run_file(ROOT / "scripts" / name, *args, stdin=stdin, **env)


def run_file(path: Path, *args: str, stdin: bytes | None = None, **env: str):
    """Run the Python file at path, as script() does."""
    proc = subprocess.run(
        [sys.executable, str(path), *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **env},
    )
    proc.stdout, proc.stderr = proc.stdout.decode(), proc.stderr.decode()
    return proc
