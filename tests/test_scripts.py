"""The command-line tools end to end on the session's real tiny training run (`trained_run`):
their main() in this process as their command line runs it (`cli`), and a few bad inputs through
real subprocesses to prove the wiring of exit codes and stderr."""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import accuracy, run_module, script

from revseq.inference import Model
from revseq.task.config import ModelConfig
from revseq.task.layout import param_shapes
from revseq.training import checkpoint
from revseq.training.run_folder import read_test


@pytest.fixture
def run_dir(trained_run) -> Path:
    """`train.py --backend jax --preset tiny`, run once per session (a few seconds of training)."""
    return trained_run("jax", "tiny")


def test_train_logs_each_epoch_reaches_high_accuracy_and_writes_the_run_folder(run_dir):
    out = (run_dir / "stdout.txt").read_text()
    epochs = re.findall(
        r"Epoch (\d\d)/08 \| Train Loss: [\d.]+ \| Val Loss: [\d.]+ \| "
        r"Val Exact: [\d.]+% \| Align: [\d.]+% \| [\d.]+s",
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
    assert all(0.0 <= r["val_alignment"] <= 100.0 for r in rows)
    assert rows[-1]["val_alignment"] > 80.0, "the anti-diagonal forms in a run that learns"
    report = (run_dir / "report.md").read_text()
    assert f"({correct}/{total})" in report and "## Analysis" in report
    for name in ("alignment_curve.png", "attention_correct.png", "attention_long.png"):
        assert (run_dir / name).read_bytes()[:4] == b"\x89PNG", name
        assert f"({name})" in report, name


def test_evaluate_reproduces_the_test_accuracy_of_the_run(run_dir, cli):
    proc = cli("evaluate.py", "--checkpoint", str(run_dir))
    assert proc.returncode == 0, proc.stderr
    assert accuracy(proc.stdout) == accuracy((run_dir / "stdout.txt").read_text())
    assert proc.stdout.count("Status:") == 10


def test_evaluate_writes_the_report_of_a_checkpoint(run_dir, cli, tmp_path):
    proc = cli("evaluate.py", "--checkpoint", str(run_dir), "--report", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    report = (tmp_path / "r" / "report.md").read_text()

    # The same model, data and probes: the run's own report has the same numbers.
    def body(text: str) -> str:
        return text.split("## Gallery")[0].split("## Accuracy on the test split")[1]

    assert body(report) == body((run_dir / "report.md").read_text())
    assert f"Evaluated by `revseq evaluate --checkpoint {run_dir} --report" in report
    assert "## Lengths never seen in training (trained on 3-6 words, bahdanau attention)" in report
    assert (tmp_path / "r" / "attention_repeated.png").stat().st_size > 0


def test_evaluate_reads_a_sentence_file(run_dir, cli, tmp_path):
    f = tmp_path / "s.txt"
    f.write_text("the cat sat\n\nbig red car ran\n")
    proc = cli("evaluate.py", "--checkpoint", str(run_dir), "--sentences", str(f))
    assert proc.returncode == 0, proc.stderr
    assert accuracy(proc.stdout)[2] == 2
    assert "Reference:  sat cat the" in proc.stdout


def test_reverse_gives_the_same_line_for_a_sentence_alone_or_among_others(run_dir, cli):
    sentences = ["the cat sat", "big red car ran on the mat", "fox", "hot cold new old fast"]
    together = cli("reverse.py", "--checkpoint", str(run_dir), *sentences)
    assert together.returncode == 0, together.stderr
    lines = together.stdout.splitlines()
    assert len(lines) == 4
    for s, line in zip(sentences, lines, strict=True):
        alone = cli("reverse.py", "--checkpoint", str(run_dir), s)
        assert alone.stdout.splitlines() == [line]


def test_reverse_reads_stdin_line_for_line_and_puts_unknown_words_back(run_dir, cli):
    proc = cli(
        "reverse.py", "--checkpoint", str(run_dir), stdin=b"the cat sat\n\n   \nthe zebra sat\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n") == ["sat cat the", "", "", "sat zebra the", ""]
    # The model itself emits <UNK> where it reads an unknown word; --keep-unk shows it.
    kept = cli("reverse.py", "--checkpoint", str(run_dir), "--keep-unk", "the zebra sat")
    assert kept.stdout.splitlines() == ["sat <UNK> the"]


def test_reverse_and_evaluate_decode_with_the_beam_they_are_given(run_dir, cli):
    """--beam and --length-penalty reach the beam search: the lines are those of
    Model.decode with the same settings, unknown words put back as in greedy decoding. The
    9-word sentences, longer than any in training, are ones where beam and greedy differ."""
    sentences = [
        "the cat sat",
        "the zebra sat",
        "dog drinks big fish old new on sat",
        "the fast hot ran sad house cat old",
        "dog the dog hat dog sat blue jumps fish",
    ]
    flags = ["--beam", "4", "--length-penalty", "1"]
    proc = cli("reverse.py", "--checkpoint", str(run_dir), *flags, *sentences)
    assert proc.returncode == 0, proc.stderr
    model, words = Model.load(run_dir), [s.split() for s in sentences]
    wanted = model.decode(words, beam=4, length_penalty=1.0)
    assert proc.stdout.splitlines() == [" ".join(d.prediction) for d in wanted]
    assert proc.stdout.splitlines()[1] == "sat zebra the"
    assert [d.prediction for d in wanted] != [d.prediction for d in model.decode(words)]
    ev = cli("evaluate.py", "--checkpoint", str(run_dir), "--beam", "3", "--examples", "0")
    items = model.decode(read_test(run_dir), beam=3)
    right = sum(d.prediction == d.reference for d in items)
    assert accuracy(ev.stdout)[1:] == (right, len(items))


def _truncate(name):
    def damage(folder):
        p = folder / name
        p.write_bytes(p.read_bytes()[:1000])

    return damage


def _flip_last_byte(folder):
    p = folder / "best.safetensors"
    b = bytearray(p.read_bytes())
    b[-1] ^= 0xFF
    p.write_bytes(bytes(b))


def _other_shapes(folder):
    """A sound file (digest right) whose tensors are those of a smaller model (hidden 32)."""
    _, meta = checkpoint.read(folder, "best")
    small = ModelConfig(**{**meta["config"]["model"], "hidden_dim": 32})
    checkpoint.write(
        folder,
        "best",
        tensors={k: np.zeros(s, np.float32) for k, s in param_shapes(small).items()},
        meta=meta,
    )


def _last_of_other_settings(folder):
    tensors, meta = checkpoint.read(folder, "last")
    meta["config"]["train"]["lr"] = 0.5
    checkpoint.write(folder, "last", tensors=tensors, meta=meta)


def _pickle_file(folder):
    (folder / "best_model.pt").write_bytes(pickle.dumps({"weight": [1.0]}))


def _no_record(folder):
    (folder / "run.json").unlink()


def _huge_max_len(folder):
    """A sound checkpoint whose header says it trained on sentences of up to 100,000 words."""
    tensors, meta = checkpoint.read(folder, "best")
    meta["config"]["data"]["max_len"] = 100_000
    checkpoint.write(folder, "best", tensors=tensors, meta=meta)


def _record_says_torch(folder):
    record = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**record, "backend": "torch"}))


# (arguments, stdin, words the one stderr line holds, damage done to {copy} of the run first)
BAD_INPUTS = [
    (["reverse.py", "--checkpoint", "/nonexistent/run", "the cat"], None, "not found", None),
    (["reverse.py", "--checkpoint", "{copy}", "a"], None, "truncated or corrupt",
     _truncate("best.safetensors")),
    (["reverse.py", "--checkpoint", "{copy}", "a"], None, "do not match their digest",
     _flip_last_byte),
    (["evaluate.py", "--checkpoint", "{copy}"], None, "config needs", _other_shapes),
    (["reverse.py", "--checkpoint", "{copy}/best_model.pt", "a"], None, "never unpickles",
     _pickle_file),
    (["reverse.py", "--checkpoint", "{run}"], b"\xff\xfe bad\n", "UTF-8", None),
    (["reverse.py", "--checkpoint", "{run}", " ".join(["cat"] * 101)], None,
     "101 words; the limit is 100", None),
    (["evaluate.py", "--checkpoint", "{run}", "--sentences", "/nonexistent.txt"], None,
     "cannot read", None),
    (["evaluate.py", "--checkpoint", "{run}", "--examples", "-1"], None, "at least 0", None),
    (["reverse.py", "--checkpoint", "{run}", "--beam", "0", "a"], None, "at least 1", None),
    (["reverse.py", "--checkpoint", "{run}", "--length-penalty", "nan", "a"], None,
     "finite number >= 0", None),
    (["train.py", "--epochs", "-1"], None, "must be at least 1", None),
    (["train.py", "--batch-size", "0"], None, "must be at least 1", None),
    (["train.py", "--backend", "mxnet"], None, "invalid choice", None),
    (["train.py", "--preset", "huge"], None, "invalid choice", None),
    (["train.py", "--devices", "0"], None, "must be at least 1", None),
    (["train.py", "--compute-dtype", "float16"], None, "invalid choice: 'float16'", None),
    (["train.py", "--backend", "torch", "--compute-dtype", "bfloat16", "--out", "{run}/new"], None,
     "is for the JAX backend", None),
    (["train.py", "--lr", "-1", "--out", "{run}/new"], None, "lr must be positive", None),
    (["train.py", "--unk-rate", "1.5", "--out", "{run}/new"], None, "unk_rate must be", None),
    (["train.py", "--attention", "luong"], None, "invalid choice: 'luong'", None),
    (["train.py", "--location-width", "4", "--out", "{run}/new"], None,
     "location_width must be odd", None),
    (["train.py", "--out", "{run}"], None, "already holds files", None),
    (["train.py", "--out", "{run}/best.json"], None, "is not a directory", None),
    (["train.py", "--resume", "{run}", "--lr", "0.1"], None, "drop --lr", None),
    (["train.py", "--resume", "{copy}"], None, "run.json is missing", _no_record),
    (["train.py", "--resume", "{copy}"], None, "truncated or corrupt",
     _truncate("last.safetensors")),
    (["train.py", "--resume", "/nonexistent/run"], None, "not found", None),
    (["train.py", "--resume", "{copy}"], None, "train.lr: 0.5 vs 0.005", _last_of_other_settings),
    (["convert.py", "export", "{run}", "--out", "/nonexistent/dir/x.pt"], None, "error:", None),
    # The faults a hostile user found, each in one line with no file changed:
    (["evaluate.py", "--checkpoint", "{copy}", "--report", "{copy}/r"], None,
     "max_len must be at most 100", _huge_max_len),
    (["convert.py", "export", "{run}", "--out", "{run}/best.json"], None,
     "exists; choose a new --out", None),
    (["train.py", "--resume", "{copy}"], None, "holds the jax backend's training state; "
     "run.json says torch", _record_says_torch),
    (["train.py", "--lr", "inf", "--out", "{run}/new"], None, "lr must be a finite number", None),
    (["evaluate.py", "--checkpoint", "{run}", "--report", "{run}"], None,
     "holds a run; --report writes into a folder of its own", None),
    (["reverse.py", "--checkpoint", "{run}", "--beam", "100000", "a"], None, "at most 64", None),
    (["train.py", "--preset", "tiny", "--hidden-dim", "200000", "--out", "{copy}/h"], None,
     "GiB are free: lower --hidden-dim", None),
]  # fmt: skip


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# Bad inputs also run as real processes: invalid UTF-8 on the real stdin, and a damaged file
# refused by reverse.py and by train.py --resume.
THROUGH_A_PROCESS = ("UTF-8", "truncated or corrupt")


@pytest.mark.parametrize("args, stdin, words, damage", BAD_INPUTS)
def test_bad_input_gives_one_line_and_a_nonzero_exit_and_changes_no_file(
    run_dir, cli, tmp_path, args, stdin, words, damage
):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("stdout.txt"))
    if damage:
        damage(copy)
    before = files(run_dir), files(copy)
    argv = [a.replace("{run}", str(run_dir)).replace("{copy}", str(copy)) for a in args]
    proc = (script if words in THROUGH_A_PROCESS else cli)(*argv, stdin=stdin)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr
    assert (files(run_dir), files(copy)) == before
    assert not (run_dir / "new").exists() and not (copy / "h").exists(), "no half-made folder"


@pytest.mark.integration
def test_benchmark_prints_the_table_for_both_backends(tmp_path):
    out = tmp_path / "bench.json"
    proc = run_module(
        "benchmarks",
        "--preset",
        "tiny",
        "--repeats",
        "1",
        "--accuracy-runs",
        "0",
        "--no-scaling",  # the batch-scaling rows train the default and seed models: minutes
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
    assert "beam-5 decode of test set, ms" in proc.stdout and jax_row["beam_decode_test_ms"] > 0
