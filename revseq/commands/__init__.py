"""The `revseq` command: `revseq COMMAND [FLAGS]` once installed, or `python -m revseq COMMAND`.

Each command is a module of this package with `add_arguments(parser)` and `main(args)`;
`scripts/<command>.py` runs the same code (`python scripts/train.py --backend jax`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from revseq import cli
from revseq.errors import RevseqError
from revseq.training.processes import first_line

COMMANDS = {
    "train": "train a model on the reversal task, or on your own sentences (--corpus FILE)",
    "reverse": "reverse sentences with a trained model",
    "evaluate": "exact match and examples of a trained model, and its report (--report DIR)",
    "convert": "import a notebook state_dict into a run folder, or export one",
    "doctor": "check the install: devices, both backends compared, speed, a tiny run",
    "launch": "start N training processes on this host (jax.distributed)",
}


def parser() -> cli.ArgumentParser:
    """`revseq`'s command line: one sub-command a module."""
    p = cli.ArgumentParser(prog="revseq", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in COMMANDS.items():
        module = importlib.import_module(f"revseq.commands.{name}")
        q = sub.add_parser(
            name,
            help=summary,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(q)
        q.set_defaults(main=module.main)
    return p


# What to lower when a command runs out of memory (host or device), by command.
LOWER = {
    "train": "--batch-size, --hidden-dim, --embed-dim or --num-layers",
    "reverse": "--beam, or the number of sentences",
    "evaluate": "--beam",
}


def main(argv: list[str] | None = None) -> int:
    """Run `revseq ARGV` -> its exit code (errors raise; cli.run turns them into one line, and
    running out of memory into one that names the setting to lower)."""
    args = parser().parse_args(argv)
    try:
        return args.main(args) or 0
    except Exception as e:
        if not out_of_memory(e):
            raise
        lower = LOWER.get(args.command, "the sizes asked for")
        raise RevseqError(f"out of memory ({first_line(e)}): lower {lower}") from None


def out_of_memory(e: BaseException) -> bool:
    """Whether `e` is an allocation that failed: on the host (MemoryError, numpy's too) or on
    a device (XLA's RESOURCE_EXHAUSTED), told apart without importing jax."""
    return isinstance(e, MemoryError) or (
        type(e).__name__ == "JaxRuntimeError" and "RESOURCE_EXHAUSTED" in str(e)
    )


def run() -> None:
    """The `revseq` console script and `python -m revseq`."""
    cli.run(main)


def script(name: str) -> None:
    """`python scripts/<name>.py FLAGS`: the same as `revseq <name> FLAGS`."""
    cli.run(lambda: main([name, *sys.argv[1:]]))
