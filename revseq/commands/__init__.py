"""The `revseq` command: `revseq COMMAND [FLAGS]` once installed, or `python -m revseq COMMAND`.

Each command is a module of this package with `add_arguments(parser)` and `main(args)`;
`scripts/<command>.py` runs the same code (`python scripts/train.py --backend jax`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from revseq import cli

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


def main(argv: list[str] | None = None) -> int:
    """Run `revseq ARGV` -> its exit code (errors raise; cli.run turns them into one line)."""
    args = parser().parse_args(argv)
    return args.main(args) or 0


def run() -> None:
    """The `revseq` console script and `python -m revseq`."""
    cli.run(main)


def script(name: str) -> None:
    """`python scripts/<name>.py FLAGS`: the same as `revseq <name> FLAGS`."""
    cli.run(lambda: main([name, *sys.argv[1:]]))
