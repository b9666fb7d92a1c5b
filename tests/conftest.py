"""Shared fixtures: small configs and random params for backend tests."""

from __future__ import annotations

import io
import runpy
import subprocess
import sys

import pytest
from helpers import ROOT

from revseq.task.config import ModelConfig


@pytest.fixture
def small_cfg() -> ModelConfig:
    return ModelConfig(vocab_size=12, embed_dim=6, hidden_dim=8, num_layers=2, dropout=0.0)


@pytest.fixture
def cli(monkeypatch, capsys):
    """cli("reverse.py", *args, stdin=b"") runs scripts/<name> in this process as its command
    line would (as __main__, so through cli.run's exit codes and one-line errors) and returns
    the finished "process": returncode, stdout, stderr. JAX's compilation cache stays off
    (the flag's default), so no test sets that process-wide option here."""

    def run(name: str, *args: str, stdin: bytes | None = None):
        monkeypatch.setattr(sys, "argv", [name, *args])
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin or b"")))
        monkeypatch.setenv("REVSEQ_JAX_CACHE", "")
        capsys.readouterr()
        with pytest.raises(SystemExit) as stopped:
            runpy.run_path(str(ROOT / "scripts" / name), run_name="__main__")
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess([name, *args], stopped.value.code or 0, out, err)

    return run
