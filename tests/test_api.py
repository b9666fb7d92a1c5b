"""What a new user meets first: the Python API (revseq.load, Model.reverse), the `revseq`
command and `python -m revseq`, the `latest` link a finished run leaves beside itself, and a
JAX-only install that says what to add for torch."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from helpers import run_module, run_python

import revseq
from revseq.errors import RevseqError
from revseq.inference import Model
from revseq.training import backends
from revseq.training.run_folder import point_latest, read_test


@pytest.fixture(scope="module")
def model(trained_run) -> Model:
    return revseq.load(trained_run("jax", "tiny").parent / "latest")


def test_a_finished_run_leaves_a_latest_link_to_itself(trained_run):
    run = trained_run("jax", "tiny")
    link = run.parent / "latest"
    assert link.is_symlink() and link.resolve() == run.resolve()


def test_latest_moves_to_the_newest_run_and_never_replaces_a_real_folder(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        point_latest(tmp_path / name)
        assert (tmp_path / "latest").resolve() == (tmp_path / name).resolve()
    other = tmp_path / "other"
    (other / "latest").mkdir(parents=True)
    (other / "run").mkdir()
    point_latest(other / "run")
    assert not (other / "latest").is_symlink(), "a user's own folder named latest stays"


def test_reverse_takes_strings_and_gives_strings_back_as_typed(model):
    test = [" ".join(s) for s in read_test(model.folder)][:20]
    got = model.reverse(test)
    assert isinstance(got, list) and all(isinstance(s, str) for s in got)
    right = sum(g == " ".join(reversed(s.split())) for g, s in zip(got, test, strict=True))
    assert right >= 18, "the tiny run reverses its own test sentences"
    cased = model.reverse(["The Cat sat.", ""])
    assert cased[1] == "" and cased[0].split()[-1] == "The", cased
    assert set(cased[0].split()) <= {"The", "Cat", "sat."}


def test_a_bare_string_is_one_sentence_and_decode_refuses_one(model):
    sentence = "the cat sat"
    assert model.reverse(sentence) == model.reverse([sentence])[0]
    with pytest.raises(TypeError, match="reverse takes text"):
        model.decode([sentence])
    with pytest.raises(TypeError, match="list of strings"):
        model.reverse([("the", "cat")])


def test_reverse_takes_the_decoding_options(model):
    sentence = ["the cat sat on the mat"]
    assert model.reverse(sentence, beam=3, length_penalty=0.6) == model.reverse(sentence)


def test_the_console_script_and_python_m_revseq_run_the_commands(trained_run):
    latest = str(trained_run("jax", "tiny").parent / "latest")
    tool = shutil.which("revseq", path=str(Path(sys.executable).parent))
    assert tool, "pip install -e . puts a revseq command beside the interpreter"
    helped = run_python("-c", "import sys; from revseq.commands import run; run()", "--help")
    for command in ("train", "reverse", "evaluate", "convert", "doctor", "launch"):
        assert command in helped.stdout
    proc = run_module("revseq", "reverse", "--checkpoint", latest, "the cat sat")
    direct = run_python(tool, "reverse", "--checkpoint", latest, "the cat sat")
    assert proc.returncode == direct.returncode == 0, proc.stderr + direct.stderr
    assert proc.stdout == direct.stdout and len(proc.stdout.split()) == 3


def test_a_missing_torch_is_one_line_saying_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch fails, as where it is absent
    monkeypatch.delitem(sys.modules, "revseq_torch.backend", raising=False)
    assert not backends.installed("torch") and backends.installed("jax")
    with pytest.raises(RevseqError, match=r"needs torch.*: pip install -e '\.\[torch\]'$"):
        backends.load("torch", revseq.preset("tiny"))


def test_doctor_without_torch_says_so_and_fails_nothing(monkeypatch, capsys, cli, tmp_path):
    from revseq.commands.doctor import check_parity

    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "revseq_torch.backend", raising=False)
    assert check_parity() == (True, "parity not checked (no torch)")
    assert "pip install -e '.[torch]'" in capsys.readouterr().out
    proc = cli("convert", "export", str(tmp_path), "--out", str(tmp_path / "x.pt"))
    assert proc.returncode == 2 and "convert (torch.save files) needs torch" in proc.stderr


def test_the_benchmark_measures_the_installed_backends_alone(monkeypatch, capsys):
    from benchmarks.__main__ import backend_names, parser

    monkeypatch.setattr(backends, "installed", lambda name: name == "jax")
    assert backend_names(parser(), None) == ["jax"]
    assert "pip install -e '.[torch]'" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        backend_names(parser(), "jax,torch")
