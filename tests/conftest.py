"""Shared fixtures: small configs and random params for backend tests."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from revseq import cli as cli_module
from revseq import commands
from revseq.task.config import ModelConfig


@pytest.fixture
def small_cfg() -> ModelConfig:
    return ModelConfig(vocab_size=12, embed_dim=6, hidden_dim=8, num_layers=2, dropout=0.0)


@pytest.fixture
def cli(monkeypatch, capsys):
    """cli("reverse", *args, stdin=b"") runs `revseq reverse ARGS` in this process as the
    command line does (through cli.run's exit codes and one-line errors; "reverse.py" names
    the same command) and returns the finished "process": returncode, stdout, stderr. JAX's
    compilation cache stays off (the flag's default), so no test sets that process-wide
    option here."""

    def run(name: str, *args: str, stdin: bytes | None = None):
        name = name.removesuffix(".py")
        monkeypatch.setattr(sys, "argv", ["revseq", name, *args])
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin or b"")))
        monkeypatch.setenv("REVSEQ_JAX_CACHE", "")
        capsys.readouterr()
        with pytest.raises(SystemExit) as stopped:
            cli_module.run(lambda: commands.main([name, *args]))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess([name, *args], stopped.value.code or 0, out, err)

    return run
