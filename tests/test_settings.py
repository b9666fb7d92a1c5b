"""Every setting reachable, any run repeatable, a run you can watch: the flags generated from
the config's fields, config files (TOML and a run's run.json) in their place between the
preset and the flags, --print-config's round trip, and the live log (steps.jsonl and
TensorBoard's event file)."""

from __future__ import annotations

import dataclasses
import json
import struct
import sys

import pytest
from helpers import ROOT

from revseq import commands
from revseq.errors import RevseqError
from revseq.task import settings
from revseq.task.config import PRESETS, Config, preset
from revseq.training import run_folder

CORPUS = ROOT / "tests" / "data" / "corpus.txt"


def other_value(f: dataclasses.Field, value):
    """A valid value of field f other than `value`."""
    if f.metadata.get("choices"):
        return next(c for c in f.metadata["choices"] if c != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, float):
        return value / 2 if value else 0.25
    if isinstance(value, int):
        return value + 2 if f.name == "location_width" else value + 1  # odd stays odd
    return str(CORPUS)


def test_every_setting_of_the_config_is_a_flag_with_its_help_and_default():
    train = commands.parser()._subparsers._group_actions[0].choices["train"]
    flags = {a.dest: a for a in train._actions}
    for _section, f in settings.fields():
        action = flags[f.name]
        assert action.option_strings[0] == f"--{f.name.replace('_', '-')}"
        assert f.metadata["help"] in action.help and "default: " in action.help
        if f.metadata.get("choices"):
            assert tuple(action.choices) == f.metadata["choices"]
    derived = {"vocab_size", "corpus_sha256"}
    assert not derived & set(flags), "derived fields are not settings"
    count = sum(
        1 for s in ("model", "data", "train") for _ in dataclasses.fields(getattr(Config(), s))
    )
    assert len(list(settings.fields())) == count - len(derived)
    assert "seed 30, tiny 8" in flags["epochs"].help, "which presets set it"


@pytest.mark.parametrize("section, f", list(settings.fields()), ids=lambda x: getattr(x, "name", x))
def test_each_setting_given_as_a_flag_reaches_the_config(section, f):
    base = preset("tiny")
    value = other_value(f, getattr(getattr(base, section), f.name))
    flags = {f.name: value}
    if f.name in ("min_count", "max_vocab"):
        flags["corpus"] = str(CORPUS)
    cfg, _ = settings.resolve("tiny", {}, flags)
    got = getattr(getattr(cfg, section), f.name)
    assert got == (str(CORPUS.absolute()) if f.name == "corpus" else value)


def test_a_config_file_sits_between_the_preset_and_the_flags(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        '[train]\nlr = 0.01\nepochs = 2\nlr_schedule = "constant"\n[model]\nhidden_dim = 48\n'
    )
    cfg, _ = settings.resolve("tiny", settings.read_file(path), {"lr": 0.02})
    assert (cfg.train.lr, cfg.train.epochs, cfg.train.lr_schedule) == (0.02, 2, "constant")
    assert cfg.model.hidden_dim == 48 and cfg.train.batch_size == PRESETS["tiny"].train.batch_size


def test_print_config_round_trips(cli, tmp_path):
    args = ["--preset", "tiny", "--lr-schedule", "constant", "--b1", "0.8", "--warmup", "5"]
    first = cli("train", *args, "--print-config")
    assert first.returncode == 0, first.stderr
    path = tmp_path / "run.toml"
    path.write_text(first.stdout)
    again = cli("train", "--config", str(path), "--print-config")
    assert again.stdout.split("\n", 2)[2] == first.stdout.split("\n", 2)[2]
    cfg, _ = settings.resolve("default", settings.read_file(path), {})
    assert (
        cfg == settings.resolve("tiny", {}, {"lr_schedule": "constant", "b1": 0.8, "warmup": 5})[0]
    )


def test_a_corpus_config_round_trips_with_its_corpus(tmp_path):
    cfg, _ = settings.resolve("long", {}, {"corpus": str(CORPUS), "epochs": 3})
    path = tmp_path / "c.toml"
    path.write_text(settings.to_toml(cfg))
    assert settings.resolve("default", settings.read_file(path), {})[0] == cfg


def test_a_runs_record_repeats_its_config(trained_run):
    record = trained_run("jax", "tiny") / "run.json"
    cfg, _ = settings.resolve("default", settings.read_file(record), {})
    assert cfg.to_dict() == json.loads(record.read_text())["config"]


@pytest.mark.parametrize(
    "text, words",
    [
        ("[train]\nlearning_rate = 0.1\n", "unknown key train.learning_rate"),
        ("[train]\nlr = 'fast'\n", "train.lr must be of type float"),
        ("[train]\nlr = -1.0\n", "train.lr must be positive"),
        ("[model]\nvocab_size = 50\n", "model.vocab_size is derived"),
        ("[training]\nlr = 0.1\n", "[training] is not a table"),
        ("[train\nlr = 0.1\n", "is not valid TOML"),
        ("[model]\nattention = 'luong'\n", "model.attention must be one of bahdanau, location"),
    ],
)
def test_a_bad_key_or_value_in_a_config_file_is_one_line_naming_it(cli, tmp_path, text, words):
    path = tmp_path / "c.toml"
    path.write_text(text)
    proc = cli("train", "--config", str(path), "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert words in proc.stderr and not (tmp_path / "r").exists()


@pytest.mark.integration  # the second tier: the first keeps its budget
def test_settings_the_readme_names_train_and_are_recorded(cli, tmp_path):
    out = tmp_path / "r"
    proc = cli("train", "--preset", "tiny", "--lr-schedule", "constant", "--b1", "0.8",
               "--epochs", "1", "--n-train", "320", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    train = json.loads((out / "run.json").read_text())["config"]["train"]
    assert (train["lr_schedule"], train["b1"], train["epochs"]) == ("constant", 0.8, 1)


def test_steps_jsonl_has_a_row_per_compiled_call_and_metrics_the_rate_and_norm(trained_run):
    run = trained_run("jax", "tiny")
    rows = run_folder.read_steps(run)
    epochs = run_folder.read_metrics(run)
    assert [r["step"] for r in rows] == list(range(1, epochs[-1]["step"] + 1)), "tiny: chunk 1"
    assert {"epoch", "step", "loss", "grad_norm", "lr", "sentences_per_s"} <= set(rows[0])
    assert rows[0]["lr"] == pytest.approx(PRESETS["tiny"].train.lr, rel=1e-3)
    assert rows[-1]["lr"] < rows[0]["lr"] and all(r["sentences_per_s"] > 0 for r in rows)
    assert all(r["grad_norm"] > 0 and r["loss"] > 0 for r in rows)
    assert all({"step", "grad_norm", "lr"} <= set(e) for e in epochs)
    assert rows[-1]["loss"] < rows[0]["loss"] / 10, "a run that learns"


def events(path) -> list:
    """The Event records of a TensorBoard event file (TFRecord framing: length, its CRC, the
    data, its CRC), parsed with tensorboardX's own protobuf classes."""
    from tensorboardX.proto import event_pb2

    data, out, i = path.read_bytes(), [], 0
    while i < len(data):
        (n,) = struct.unpack("<Q", data[i : i + 8])
        event = event_pb2.Event()
        event.ParseFromString(data[i + 12 : i + 12 + n])
        out.append(event)
        i += 12 + n + 4
    return out


def test_a_run_writes_an_event_file_tensorboard_reads_with_the_runs_tags(trained_run):
    [path] = trained_run("jax", "tiny").glob("events.out.tfevents.*")
    tags = {v.tag for e in events(path) for v in e.summary.value}
    assert tags == {"train/loss", "train/grad_norm", "train/lr", "train/sentences_per_s",
                    "val/loss", "val/exact", "val/alignment"}  # fmt: skip
    steps = [e.step for e in events(path) for v in e.summary.value if v.tag == "val/exact"]
    assert steps == [r["step"] for r in run_folder.read_metrics(trained_run("jax", "tiny"))]


def test_without_tensorboardx_a_run_writes_no_event_file_and_goes_on(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    folder = run_folder.RunFolder(tmp_path, cfg=Config(), vocab=None, backend_name="jax")
    folder.log_call({"step": 1, "loss": 1.0, "grad_norm": 1.0, "lr": 0.1, "sentences_per_s": 9})
    folder.close()
    assert [p.name for p in tmp_path.iterdir()] == ["steps.jsonl"]


def test_warmup_must_end_before_the_run_does(cli, tmp_path):
    proc = cli("train", "--preset", "tiny", "--steps", "10", "--warmup", "10",
               "--out", str(tmp_path / "r"))  # fmt: skip
    assert proc.returncode == 2 and "--warmup 10 must be below the run's 10 steps" in proc.stderr
    with pytest.raises(RevseqError, match="warmup must be at least 0"):
        preset("tiny").replace(warmup=-1)


@pytest.mark.integration
def test_a_run_repeated_from_its_record_trains_the_same_weights(trained_run, tmp_path):
    from helpers import script
    from safetensors.numpy import load_file

    original = trained_run("jax", "tiny")
    proc = script("train.py", "--config", str(original / "run.json"), "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    for name in ("best", "last"):
        a, b = (
            load_file(original / f"{name}.safetensors"),
            load_file(tmp_path / f"r/{name}.safetensors"),
        )
        assert sorted(a) == sorted(b) and all((a[k] == b[k]).all() for k in a), name
