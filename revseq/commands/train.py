"""Train the attention seq2seq on the reversal task: revseq train --backend jax
(on the generated task, or on your own sentences: --corpus FILE).

Settings come from the preset, then (with --corpus) what the corpus suggests, then a config
file (--config FILE.toml, or a run's run.json to repeat it), then the flags, each over the one
before; --print-config shows the result as a config file.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from revseq import cli
from revseq.errors import RevseqError
from revseq.task import settings
from revseq.task.config import PRESETS, SECTIONS, TYPES
from revseq.training import record, run, run_folder
from revseq.training.backends import BACKENDS
from revseq.training.processes import Processes, initialize

GROUPS = {"model": "model", "data": "data (the generated task, or --corpus)", "train": "training"}


def add_arguments(p: cli.ArgumentParser) -> None:
    """train's command line: the run's own flags, a flag per setting of the config (generated
    from its fields, grouped by section), and the devices' and processes' flags."""
    own = p.add_argument_group("run")
    own.add_argument("--backend", choices=sorted(BACKENDS), help="default: jax")
    own.add_argument("--preset", choices=sorted(PRESETS), help="default: default")
    own.add_argument("--config", type=Path, metavar="FILE",
                     help="settings from a TOML file ([model], [data], [train] tables) or a "
                     "run's run.json (its config: the run again)")  # fmt: skip
    own.add_argument("--print-config", action="store_true",
                     help="print the resolved settings as a config file and exit")  # fmt: skip
    own.add_argument("--out", type=Path, help="run folder (default: a new one under runs/)")
    own.add_argument("--resume", type=Path, metavar="DIR",
                     help="go on with an interrupted run, with its own settings (no other "
                     "flag)")  # fmt: skip
    groups = {s: p.add_argument_group(GROUPS[s]) for s in SECTIONS}
    for section, f in settings.fields():
        add_setting(groups[section], f)
    add_device_flags(p.add_argument_group("devices and processes"))


def add_setting(group, f: dataclasses.Field) -> None:
    """The flag of config field f: its type, choices and help, the default preset's value and
    the presets that set another."""
    flag, kind = f"--{f.name.replace('_', '-')}", str(f.type)
    others = [f"{n} {_shown(c, f.name)}" for n, c in PRESETS.items()
              if _shown(c, f.name) != _shown(PRESETS["default"], f.name)]  # fmt: skip
    default = f"default: {_shown(PRESETS['default'], f.name)}"
    if others:
        default += f"; set by the presets: {', '.join(others)}"
    help_ = f"{f.metadata['help']} ({default})"
    help_ = help_.replace("%", "%%")
    if kind == "bool":
        group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, help=help_)
    elif f.metadata.get("choices"):
        group.add_argument(flag, dest=f.name, choices=f.metadata["choices"], help=help_)
    else:
        metavar = "FILE" if f.name == "corpus" else f.name.upper()
        group.add_argument(flag, dest=f.name, type=TYPES[kind], metavar=metavar, help=help_)


def _shown(cfg, name: str) -> str:
    """A preset's value of a setting, as --help shows it."""
    value = next(getattr(getattr(cfg, s), name) for s in SECTIONS if hasattr(getattr(cfg, s), name))
    return "none" if value == "" else str(value)


def main(args) -> None:
    processes = initialize(args.coordinator, args.num_processes, args.process_id)
    devices = devices_for(args.devices, processes)
    flags = {f.name: getattr(args, f.name) for _, f in settings.fields()}
    flags = {k: v for k, v in flags.items() if v is not None}
    if args.resume:
        given = [k for k in ("backend", "preset", "out", "config", *flags) if getattr(args, k)]
        if given:
            drop = ", ".join(f"--{k.replace('_', '-')}" for k in given)
            raise RevseqError(f"--resume continues a run with its own settings; drop {drop}")
    with cli.StopSignals() as stop, processes.fail_fast():
        if args.resume:
            cli.compilation_cache(args, record.read(args.resume).backend)
            run.resume(args.resume, stop=stop, devices=devices, processes=processes)
            return
        file = settings.read_file(args.config) if args.config else {}
        cfg, text = settings.resolve(args.preset or "default", file, flags)
        if args.print_config:
            print(settings.to_toml(cfg, f"{run_folder.command()}\nrevseq train --config FILE"))
            return
        out = Path(processes.from_writer(str(args.out or run_folder.new_run_dir())))
        backend = args.backend or "jax"
        cli.compilation_cache(args, backend)
        run.train(cfg, backend, out, preset=args.preset or "default", text=text, stop=stop,
                  devices=devices, processes=processes)  # fmt: skip


def devices_for(flag: int | str | None, processes: Processes) -> int | None:
    """--devices as a backend takes it: N; None (every device) for "all"; when the flag is not
    given, one device per process."""
    if flag is None:
        return processes.count
    return None if flag == "all" else int(flag)


def add_device_flags(group) -> None:
    """--devices, --coordinator, --num-processes, --process-id, --jax-cache."""
    group.add_argument(
        "--devices",
        type=cli.device_count,
        metavar="N|all",
        help="JAX: split each batch over N local devices, or all of them (default: 1; "
        "with several processes N counts all of theirs, default one each)",
    )
    group.add_argument(
        "--coordinator",
        metavar="HOST:PORT|auto",
        help="JAX: one of several processes (jax.distributed) whose process 0 listens at "
        "HOST:PORT (on that address alone); auto: JAX's own cluster detection (Cloud TPU; "
        "SLURM and Open MPI with several tasks need no flag)",
    )
    group.add_argument("--num-processes", type=cli.positive_int, metavar="N",
                       help="with --coordinator")  # fmt: skip
    group.add_argument("--process-id", type=cli.int_at_least(0), metavar="I",
                       help="with --coordinator: 0..N-1")  # fmt: skip
    cli.add_cache_flag(group)
