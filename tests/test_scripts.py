"""The command-line tools end to end, each in a subprocess, on one short real training run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import script


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real training run of the tiny preset (a few seconds of training)."""
    out = tmp_path_factory.mktemp("run") / "tiny"
    proc = script("train.py", "--backend", "jax", "--preset", "tiny", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    (out / "stdout.txt").write_text(proc.stdout)
    return out


def accuracy(text: str) -> tuple[float, int, int]:
    m = re.search(r"Exact Match Accuracy: (\d+\.\d\d)% \((\d+)/(\d+)\)", text)
    assert m, text
    return float(m[1]), int(m[2]), int(m[3])


def test_train_logs_each_epoch_reaches_high_accuracy_and_writes_the_run_folder(run_dir):
    out = (run_dir / "stdout.txt").read_text()
    epochs = re.findall(
        r"Epoch (\d\d)/08 \| Train Loss: [\d.]+ \| Val Loss: [\d.]+ \| "
        r"Val Exact: [\d.]+% \| [\d.]+s",
        out,
    )
    assert epochs == [f"{i:02d}" for i in range(1, 9)]
    pct, correct, total = accuracy(out)
    assert total == 200 and pct >= 90.0, "a short run on a small task should learn it"
    assert out.count("Status:") >= 10 and "Reference:" in out
    for q in (
        "1. What patterns",
        "2. Does the attention",
        "3. How does attention",
        "4. What happens",
    ):
        assert q in out
    for name in (
        "best.safetensors",
        "best.json",
        "metrics.jsonl",
        "attention_heatmap.png",
        "loss_curve.png",
        "report.md",
        "test.txt",
    ):
        assert (run_dir / name).stat().st_size > 0, name
    assert (run_dir / "attention_heatmap.png").read_bytes()[:4] == b"\x89PNG"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 9))
    best = min(rows, key=lambda r: r["val_loss"])
    meta = json.loads((run_dir / "best.json").read_text())
    assert meta["epoch"] == best["epoch"] and meta["vocab"][:4] == [
        "<PAD>",
        "<SOS>",
        "<EOS>",
        "<UNK>",
    ]
    report = (run_dir / "report.md").read_text()
    assert f"({correct}/{total})" in report and "## Analysis" in report


def test_evaluate_reproduces_the_test_accuracy_of_the_run(run_dir):
    proc = script("evaluate.py", "--checkpoint", str(run_dir))
    assert proc.returncode == 0, proc.stderr
    assert accuracy(proc.stdout) == accuracy((run_dir / "stdout.txt").read_text())
    assert proc.stdout.count("Status:") == 10


def test_evaluate_reads_a_sentence_file(run_dir, tmp_path):
    f = tmp_path / "s.txt"
    f.write_text("the cat sat\n\nbig red car ran\n")
    proc = script("evaluate.py", "--checkpoint", str(run_dir), "--sentences", str(f))
    assert proc.returncode == 0, proc.stderr
    assert accuracy(proc.stdout)[2] == 2
    assert "Reference:  sat cat the" in proc.stdout


def test_reverse_gives_the_same_line_for_a_sentence_alone_or_among_others(run_dir):
    sentences = ["the cat sat", "big red car ran on the mat", "fox", "hot cold new old fast"]
    together = script("reverse.py", "--checkpoint", str(run_dir), *sentences)
    assert together.returncode == 0, together.stderr
    lines = together.stdout.splitlines()
    assert len(lines) == 4
    for s, line in zip(sentences, lines, strict=True):
        alone = script("reverse.py", "--checkpoint", str(run_dir), s)
        assert alone.stdout.splitlines() == [line]


def test_reverse_reads_stdin_line_for_line_and_maps_unknown_words_to_unk(run_dir):
    proc = script(
        "reverse.py", "--checkpoint", str(run_dir), stdin=b"the cat sat\n\n   \nred zebra\n"
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert len(lines) == 5 and lines[1] == lines[2] == lines[4] == ""
    args = script("reverse.py", "--checkpoint", str(run_dir), "the cat sat", "red <UNK>")
    assert args.stdout.splitlines() == [lines[0], lines[3]]


@pytest.mark.parametrize(
    "args, stdin, words",
    [
        (["reverse.py", "--checkpoint", "/nonexistent/run", "the cat"], None, "not found"),
        (["reverse.py", "--checkpoint", "{run}"], b"\xff\xfe bad\n", "UTF-8"),
        (
            ["evaluate.py", "--checkpoint", "{run}", "--sentences", "/nonexistent.txt"],
            None,
            "cannot read",
        ),
        (["train.py", "--epochs", "-1"], None, "must be at least 1"),
        (["train.py", "--batch-size", "0"], None, "must be at least 1"),
        (["train.py", "--backend", "mxnet"], None, "invalid choice"),
        (["train.py", "--preset", "huge"], None, "invalid choice"),
        (["train.py", "--lr", "-1", "--out", "{run}/new"], None, "lr must be positive"),
        (["train.py", "--out", "{run}"], None, "already holds files"),
        (["train.py", "--out", "{run}/best.json"], None, "Not a directory"),
        (["evaluate.py", "--checkpoint", "{run}", "--examples", "-1"], None, "at least 0"),
        (["convert.py", "export", "{run}", "--out", "/nonexistent/dir/x.pt"], None, "error:"),
    ],
)
def test_bad_input_gives_one_line_and_a_nonzero_exit(run_dir, args, stdin, words):
    before = (run_dir / "best.safetensors").read_bytes()
    proc = script(*[a.replace("{run}", str(run_dir)) for a in args], stdin=stdin)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr
    assert (run_dir / "best.safetensors").read_bytes() == before


def test_benchmark_prints_the_table_for_both_backends(tmp_path):
    out = tmp_path / "bench.json"
    proc = script(
        "benchmark.py",
        "--preset",
        "tiny",
        "--repeats",
        "1",
        "--accuracy-runs",
        "0",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        "train sentences/s (median)" in proc.stdout and "step time, length 80 / 10" in proc.stdout
    )
    figures = json.loads(out.read_text())
    assert [r["backend"] for r in figures["results"]] == ["jax", "torch"]
    jax_row = figures["results"][0]
    assert jax_row["train_sentences_per_s"] > 0 and jax_row["compiles_epoch_2"] == 0
    assert jax_row["train_step_shapes"] == 2  # the preset's two length buckets, nothing more
    assert len(jax_row["train_step_compile_s"]) == 2 and jax_row["compiles_epoch_1"] <= 2
    assert figures["results"][1]["notebook_epoch_s"] > 0
    assert sorted(jax_row["step_ms_by_unroll"]) == ["1", "2", "4"]
    assert "the notebook's own code: one epoch" in proc.stdout
