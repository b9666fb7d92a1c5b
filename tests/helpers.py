"""Helpers shared by the tests."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from revseq.task.vocab import EOS, PAD


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


def random_params(cfg, seed: int = 0) -> dict:
    """Random JAX params drawn with jax.random from `seed`, PyTorch's default initialisers
    (the weights the JAX unit tests were tuned on; a run starts from revseq.task.init instead)."""
    import jax

    from revseq.task.layout import param_shapes
    from revseq.task.vocab import PAD
    from revseq_jax.model import unflatten

    key, flat, shapes = jax.random.key(seed), {}, param_shapes(cfg)
    for i, (name, shape) in enumerate(shapes.items()):
        k = jax.random.fold_in(key, i)
        if name.endswith("embedding.weight"):
            flat[name] = jax.random.normal(k, shape).at[PAD].set(0.0)
            continue
        fan_in = cfg.hidden_dim if ".gru." in name else shapes[name.replace(".bias", ".weight")][-1]
        flat[name] = jax.random.uniform(k, shape, minval=-(fan_in**-0.5), maxval=fan_in**-0.5)
    return unflatten(flat)


def script(name: str, *args: str, stdin: bytes | None = None, **env: str):
    """Run scripts/<name> with this interpreter (extra environment variables as keywords);
    returns the finished process, its output decoded."""
    return run_file(ROOT / "scripts" / name, *args, stdin=stdin, **env)


def run_file(path: Path, *args: str, stdin: bytes | None = None, **env: str):
    """Run the Python file at path, as script() does."""
    return run_python(str(path), *args, stdin=stdin, **env)


def run_module(name: str, *args: str, **env: str):
    """Run `python -m name` (a package of the repository, such as benchmarks), as script()
    does."""
    return run_python("-m", name, *args, **env)


def run_python(*argv: str, stdin: bytes | None = None, program: str = sys.executable, **env: str):
    """This interpreter (or another program) with argv, in the repository's root -> the
    finished process, its output decoded (warnings off; extra environment variables as
    keywords)."""
    proc = start_python(*argv, program=program, **env)
    out, err = proc.communicate(stdin, timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(), err.decode())


def start_python(
    *argv: str, program: str = sys.executable, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    **env: str,
):  # fmt: skip
    """This interpreter (or another program) with argv started in the repository's root, stdin
    piped, stdout and stderr piped (bytes) unless given, warnings off, extra environment
    variables as keywords: the one way the tests start a process -> the Popen."""
    return subprocess.Popen(
        [program, *argv],
        stdin=subprocess.PIPE,
        stdout=stdout,
        stderr=stderr,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **env},
    )


def accuracy(text: str) -> tuple[float, int, int]:
    """(percent, correct, total) of the `Exact Match Accuracy: ...` line a run prints."""
    m = re.search(r"Exact Match Accuracy: (\d+\.\d\d)% \((\d+)/(\d+)\)", text)
    assert m, text
    return float(m[1]), int(m[2]), int(m[3])
