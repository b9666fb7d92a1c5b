"""A run's settings from the places a user gives them: a preset, a config file, flags.

Every field of the config dataclasses declared with `revseq.task.config.setting` and not marked
derived is a setting, named as its field (`lr`, `hidden_dim`) and found in its section
(`[train]`, `[model]`, `[data]` in a TOML file; `--lr`, `--hidden-dim` on the command line).
A run's config is resolved in one order: the preset, then what a corpus suggests
(revseq.task.corpus), then the config file, then the flags, each over the one before.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

from revseq.errors import RevseqError
from revseq.task import corpus
from revseq.task.config import SECTIONS, Config, check, preset


def fields() -> Iterator[tuple[str, dataclasses.Field]]:
    """(section, field) of every setting a user may set, in declaration order."""
    for section in SECTIONS:
        for f in dataclasses.fields(getattr(Config(), section)):
            if not f.metadata.get("derived"):
                yield section, f


def read_file(path: Path) -> dict:
    """The settings a config file gives, flat by name: a TOML file of [model], [data] and
    [train] tables, or a run's run.json (its recorded config, derived fields left out: a run
    repeated from it derives them again). RevseqError naming the key for an unknown key, a
    derived one, or a value of the wrong type or out of range."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise RevseqError(f"cannot read --config {path}: {getattr(e, 'strerror', e)}") from None
    if path.suffix == ".json":
        tables = _run_record(path, text)
    else:
        try:
            tables = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise RevseqError(f"{path} is not valid TOML ({e})") from None
    return _flat(tables, path)


def _run_record(path: Path, text: str) -> dict:
    """The config tables of a run.json, its derived fields dropped (and a corpus run's n_words,
    which its corpus gives again)."""
    try:
        config = json.loads(text)["config"]
        derived = {f.name for f in _all_fields() if f.metadata.get("derived")}
        if config["data"].get("corpus"):
            derived.add("n_words")
        return {s: {k: v for k, v in config[s].items() if k not in derived} for s in SECTIONS}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise RevseqError(f"{path} is not a run's record (no config in it)") from None


def resolve(
    preset_name: str = "default", file: dict | None = None, flags: dict | None = None
) -> tuple[Config, corpus.Corpus | None]:
    """(The run's config, its corpus as read or None): the preset, what the corpus suggests
    when there is one, the file's settings (read_file), the flags' (both flat by name), each
    over the one before."""
    file, flags = dict(file or {}), dict(flags or {})
    given = {**file, **flags}
    path = given.pop("corpus", "")
    cfg = preset(preset_name)
    if path:
        if "n_words" in given:
            raise RevseqError("--n-words is for the generated task; a corpus's vocabulary "
                              "comes from --min-count and --max-vocab")  # fmt: skip
        return corpus.configure(cfg, Path(path), given)
    if wrong := [k for k in ("min_count", "max_vocab") if k in flags]:
        raise RevseqError(f"--{wrong[0].replace('_', '-')} is for a --corpus run")
    if "n_words" in given:
        given["vocab_size"] = given["n_words"] + 4  # the specials, then the words
    return cfg.replace(**given), None


def _flat(tables: dict, path: Path) -> dict:
    """{name: value} of a file's tables, every key and value checked."""
    known = {(s, f.name): f for s, f in fields()}
    derived = {f.name for f in _all_fields() if f.metadata.get("derived")}
    out = {}
    for section, table in tables.items():
        if section not in SECTIONS or not isinstance(table, dict):
            raise RevseqError(f"{path}: [{section}] is not a table of revseq's config "
                              f"(tables: {', '.join(SECTIONS)})")  # fmt: skip
        for name, value in table.items():
            if name in derived:
                raise RevseqError(f"{path}: {section}.{name} is derived by revseq, not set")
            if (section, name) not in known:
                raise RevseqError(f"{path}: unknown key {section}.{name}")
            check(known[section, name], value, f"{path}: {section}.{name}")
            out[name] = value
    return out


def _all_fields() -> Iterator[dataclasses.Field]:
    for section in SECTIONS:
        yield from dataclasses.fields(getattr(Config(), section))


def to_toml(cfg: Config, header: str = "") -> str:
    """The config's settings as a TOML file that read_file reads back to the same config
    (derived fields, which a run fills in itself, as comments: a corpus run's n_words too)."""
    lines = [f"# {line}" for line in header.splitlines()]
    for section in SECTIONS:
        values = getattr(cfg, section)
        lines += ["", f"[{section}]"]
        for f in dataclasses.fields(values):
            value = getattr(values, f.name)
            derived = f.metadata.get("derived") or (f.name == "n_words" and cfg.data.corpus)
            prefix = "# (derived) " if derived else ""
            lines.append(f"{prefix}{f.name} = {_toml_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_value(value) -> str:
    """A TOML literal: booleans, integers, floats (repr round-trips them), strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value) if isinstance(value, str) else str(value)
