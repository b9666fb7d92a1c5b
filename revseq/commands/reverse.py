"""Reverse sentences with a trained model: arguments, or one line in, one line out on stdin."""

from __future__ import annotations

import sys
from pathlib import Path

from revseq import cli
from revseq.errors import RevseqError
from revseq.inference import Model
from revseq.training.backends import BACKENDS


def read_stdin() -> list[str]:
    """Lines of stdin; invalid UTF-8 is an error, not a traceback."""
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise RevseqError(f"standard input is not valid UTF-8 (byte {e.start})") from None


def add_arguments(p: cli.ArgumentParser) -> None:
    """reverse's command line."""
    p.add_argument("--checkpoint", type=Path, required=True, help="a run folder")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="jax")
    cli.add_decoding_flags(p)
    p.add_argument("sentences", nargs="*", help="sentences to reverse (default: read stdin)")
    cli.add_cache_flag(p)


def main(args) -> None:
    cli.compilation_cache(args)
    model = Model.load(args.checkpoint, args.backend)
    lines = args.sentences or read_stdin()
    options = {"beam": args.beam, "length_penalty": args.length_penalty}
    for line in model.reverse(lines, keep_unk=args.keep_unk, **options):
        print(line)
