"""`train.py --corpus FILE`: reading, splitting, the vocabulary, the one-line errors, a corpus
run that trains, is scored as the user sees it and resumes from its own folder."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT
from safetensors.numpy import load_file

from revseq.errors import RevseqError, StoppedError
from revseq.inference import Model
from revseq.task import corpus
from revseq.task.config import preset
from revseq.task.data import WORDS, reverse
from revseq.task.vocab import normal
from revseq.training import checkpoint, run
from revseq.training.run_folder import read_test

CORPUS = ROOT / "tests" / "data" / "corpus.txt"  # 2,000 stdlib docstring sentences (NOTICE)
# A tiny corpus run: about 800 training sentences of 3-6 words, two epochs.
FLAGS = {"epochs": 2, "n_val": 50, "n_test": 50, "min_count": 2}


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(s + "\n" for s in lines))
    return path


def tiny_cfg(path: Path = CORPUS, **overrides):
    return corpus.configure(preset("tiny"), path, {**FLAGS, **overrides})[0]


def test_read_drops_blank_lines_duplicates_in_normal_form_and_keeps_words_as_typed(tmp_path):
    f = write(
        tmp_path / "c.txt", ["The cat sat.", "", "the CAT sat", "A dog ran,  fast", "x " * 101]
    )
    got = corpus.read(f)
    assert got.sentences == [("The", "cat", "sat."), ("A", "dog", "ran,", "fast")]
    assert (got.lines, got.duplicates, got.too_long) == (4, 1, 1)


def test_the_split_is_deterministic_disjoint_and_keeps_long_sentences_out_of_training():
    cfg = tiny_cfg(max_len=6)
    text = corpus.read(CORPUS)
    a, kept_out = corpus.split(text, cfg)
    b, _ = corpus.split(text, cfg)
    other, _ = corpus.split(text, cfg.replace(seed=1))
    assert a == b and a.test != other.test
    assert (len(a.val), len(a.test)) == (50, 50)
    keys = [{tuple(map(normal, s)) for s in part} for part in (a.train, a.val, a.test)]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert max(map(len, a.train)) <= cfg.data.max_len < max(map(len, a.test))
    long = sum(len(s) > cfg.data.max_len for s in text.sentences)
    assert kept_out == long - sum(len(s) > cfg.data.max_len for s in a.val + a.test) > 0
    assert len(a.train) + kept_out + 100 == len(text.sentences) == cfg.data.n_train + kept_out + 100


def test_n_train_caps_the_training_split():
    assert tiny_cfg().data.n_train > 300
    cfg, _ = corpus.configure(preset("tiny"), CORPUS, {**FLAGS, "n_train": 300})
    splits, _ = corpus.split(corpus.read(CORPUS), cfg, cfg.data.n_train)
    assert cfg.data.n_train == len(splits.train) == 300


def test_vocabulary_keeps_words_seen_min_count_times_most_frequent_first():
    train = [("The", "cat", "sat."), ("the", "Cat", "ran"), ("THE", "dog", "ran")]
    assert corpus.vocabulary(train, 2).itos[4:] == ["the", "cat", "ran"]
    assert corpus.vocabulary(train, 1, max_vocab=2).itos[4:] == ["the", "cat"]
    assert corpus.vocabulary(train, 4).itos[4:] == []
    cfg = tiny_cfg()
    assert cfg.model.vocab_size == cfg.data.n_words + 4 < tiny_cfg(min_count=1).model.vocab_size


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "--corpus not found"),
        (b"", "holds no sentence"),
        (b"\n  \n", "holds no sentence"),
        (b"PK\x03\x04\x00\x00binary", "is binary (a NUL byte at 4)"),
        ("déjà vu here\n".encode("latin-1"), "is not UTF-8 text (byte 1)"),
        (b"one two three\nfour five six\n", "has 2 distinct sentences; a run needs more than 2"),
    ],
)
def test_a_bad_corpus_file_is_one_line_and_exit_2(cli, tmp_path, content, message):
    f = tmp_path / "corpus.txt"
    if content is not None:
        f.write_bytes(content)
    proc = cli("train.py", "--preset", "tiny", "--corpus", str(f), "--out", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and message in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "r").exists()


def test_corpus_only_flags_need_a_corpus(cli, tmp_path):
    proc = cli("train.py", "--preset", "tiny", "--min-count", "3", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "--min-count is for a --corpus run" in proc.stderr


def cased_corpus(path: Path, count: int = 2400, seed: int = 0) -> Path:
    """A corpus a tiny model learns in seconds: sentences of 3-6 of the task's words, some
    capitalised or upper-cased, some with punctuation attached, and in one sentence of ten a
    made-up word seen once (so <UNK>): what the user typed must come back."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(count):
        words = [str(w) for w in rng.choice(WORDS, size=int(rng.integers(3, 7)))]
        for i in range(len(words)):
            r = rng.random()
            words[i] = words[i].title() if r < 0.2 else words[i].upper() if r < 0.25 else words[i]
            words[i] += "," if rng.random() < 0.1 else ""
        if rng.random() < 0.1:
            words[int(rng.integers(len(words)))] = "Zq" + "".join(
                rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 7)
            )
        lines.append(" ".join(words) + ".")
    return write(path, lines)


CASED = {"epochs": 8, "n_val": 100, "n_test": 200, "min_count": 2}


def cased_cfg(path: Path):
    return corpus.configure(preset("tiny"), path, CASED)[0]


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory) -> Path:
    """A tiny run on cased_corpus, trained in this process; its log in log.txt."""
    root = tmp_path_factory.mktemp("corpus")
    lines = []
    run.train(cased_cfg(cased_corpus(root / "c.txt")), "jax", root / "run", log=lines.append)
    (root / "run" / "log.txt").write_text("\n".join(lines))
    return root / "run"


def test_a_corpus_run_saves_its_splits_and_vocabulary(corpus_run):
    ckpt = checkpoint.load(corpus_run)
    splits = corpus.load(corpus_run)
    lines = splits.about
    assert ckpt.vocab == corpus.vocabulary(splits.train, 2)
    assert ckpt.vocab.itos[4:] == sorted(
        ckpt.vocab.itos[4:], key=lambda w: -sum(normal(x) == w for s in splits.train for x in s)
    )
    assert set(ckpt.vocab.itos[4:]) == set(WORDS)  # made-up words are seen once: <UNK>
    assert ckpt.config.data.corpus.endswith("c.txt") and ckpt.config.data.corpus_sha256
    assert (corpus_run / "test.txt").read_text() == (corpus_run / "corpus/test.txt").read_text()
    assert "kept out of training" in lines[1] and "(--min-count)" in lines[2]


def test_the_test_split_is_scored_as_the_user_sees_it(corpus_run):
    log = (corpus_run / "log.txt").read_text()
    printed = re.search(r"Exact Match Accuracy: [\d.]+% \((\d+)/200\)", log)
    sentences = read_test(corpus_run)
    model = Model.load(corpus_run, "jax")
    restored = sum(d.match for d in model.decode(sentences))
    raw = sum(d.match for d in model.decode(sentences, restore_unk=False))
    assert int(printed[1]) == restored >= 160, log[-3000:]
    assert raw < restored / 2  # scoring the model's own words would count most as wrong
    shown = log[log.index("Example 1:") : log.index("Exact Match")]
    assert "Output:     " in shown and "<UNK>" not in shown


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_words_come_back_as_typed_in_both_backends_greedy_and_beam(corpus_run, backend):
    sentences = read_test(corpus_run)
    model = Model.load(corpus_run, backend)
    vocab = model.ckpt.vocab
    for beam in (1, 3):
        raw = model.decode(sentences, restore_unk=False, beam=beam)
        typed = model.decode(sentences, beam=beam)
        right = 0
        for r, t, s in zip(raw, typed, sentences, strict=True):
            model_right = r.prediction == tuple(vocab.decode(vocab.encode(reverse(s))))
            assert t.match == model_right, (s, r.prediction, t.prediction)
            right += t.match
        assert right >= 160, (backend, beam, right)


@pytest.mark.integration  # the second tier: the first keeps its budget
def test_a_corpus_run_resumes_from_its_folder_without_the_file_bit_for_bit(corpus_run, tmp_path):
    cfg = cased_cfg(cased_corpus(tmp_path / "c.txt"))
    calls = iter(range(10**6))
    with pytest.raises(StoppedError):  # stopped in epoch 1, after a few steps
        run.train(cfg, "jax", tmp_path / "run", log=lambda line: None, stop=lambda: next(calls) > 5)
    (tmp_path / "c.txt").unlink()  # the folder has what it needs
    lines = []
    run.resume(tmp_path / "run", log=lines.append)
    assert any("splits read back" in line for line in lines)
    for name in ("best", "last"):
        a = load_file(corpus_run / f"{name}.safetensors")
        b = load_file(tmp_path / f"run/{name}.safetensors")
        assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a), name


def test_a_new_run_refuses_a_corpus_changed_since_it_was_configured(tmp_path):
    f = shutil.copy(CORPUS, tmp_path / "corpus.txt")
    cfg = tiny_cfg(Path(f))
    with open(f, "a") as fh:
        fh.write("One more sentence here.\n")
    with pytest.raises(RevseqError, match="has changed"):
        run.train(cfg, "jax", tmp_path / "run", log=lambda line: None)


@pytest.mark.parametrize(
    "count, held_out", [(9, 1), (50, 5), (3000, 300), (10000, 1000), (30000, 1000)]
)
def test_the_split_sizes_follow_the_file_a_tenth_each_at_most_a_thousand(count, held_out):
    sentences = [("w",) * (3 + i % 10) for i in range(count)]
    got = corpus.suggested(corpus.Corpus(Path("c.txt"), "", sentences, count, 0, 0))
    assert got["n_val"] == got["n_test"] == held_out
    assert (got["min_len"], got["max_len"]) == (3, min(12, count + 2))
    assert got["steps"] == corpus.STEP_BUDGET and got["length_buckets"] == 1


def test_every_sentence_the_tools_take_is_trained_on_in_buckets_of_16_tokens(tmp_path):
    lines = [f"w{i} " * (3 + i % 60) for i in range(400)] + ["x " * 101]
    cfg, _ = corpus.configure(preset("default"), write(tmp_path / "c.txt", lines))
    assert (cfg.data.min_len, cfg.data.max_len, cfg.train.length_buckets) == (3, 62, 4)
    assert (cfg.data.n_val, cfg.data.n_test, cfg.data.n_train) == (40, 40, 320)


def test_the_users_settings_win_over_what_the_corpus_suggests():
    cfg = tiny_cfg()  # FLAGS set epochs, n_val, n_test: the step budget gives way to epochs
    assert (cfg.data.n_val, cfg.data.n_test, cfg.train.epochs, cfg.train.steps) == (50, 50, 2, 0)
    assert cfg.data.max_len == 12 and cfg.train.length_buckets == 1  # from the file
    budget, _ = corpus.configure(preset("tiny"), CORPUS, {"steps": 123, "max_len": 6})
    tenth = len(corpus.read(CORPUS).sentences) // 10
    assert (budget.train.steps, budget.data.max_len, budget.data.n_val) == (123, 6, tenth)


def test_a_step_budget_trains_that_many_updates_the_last_epoch_cut_short(tmp_path):
    cfg = preset("tiny").replace(n_train=640, n_val=50, n_test=50, steps=30, length_buckets=1)
    assert (cfg.train.total_steps(20), cfg.train.epoch_count(20)) == (30, 2)
    assert [cfg.train.epoch_length(e, 20) for e in (1, 2)] == [20, 10]
    lines = []
    run.train(cfg, "jax", tmp_path / "run", log=lines.append)
    last = json.loads((tmp_path / "run" / "last.json").read_text())
    assert last["epoch"] == 3 and len(last["history"]) == 2
    steps = load_file(tmp_path / "run" / "last.safetensors")["step"]
    assert int(steps) == 30 and any(line.startswith("Epoch 02/02") for line in lines)


def test_the_length_tool_draws_a_corpus_models_sentences_from_its_vocabulary(corpus_run):
    from benchmarks.lengths import measure

    got = measure(corpus_run, [3, 5], per_length=20, seed=7, backend="jax")
    assert got["corpus"] and got["words"] == checkpoint.load(corpus_run).config.data.n_words
    rates = [c / t for c, t, *_ in got["by_length"].values()]
    assert min(rates) > 0.5, "sentences of its own words, at lengths it trained on"
