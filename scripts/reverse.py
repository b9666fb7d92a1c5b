"""Reverse sentences with a trained model: arguments, or one line in, one line out on stdin."""

from __future__ import annotations

import sys
from pathlib import Path

from revseq import cli
from revseq.errors import RevseqError
from revseq.inference import Model
from revseq.task.data import split_words
from revseq.training.backends import BACKENDS


def read_stdin() -> list[str]:
    """Lines of stdin; invalid UTF-8 is an error, not a traceback."""
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise RevseqError(f"standard input is not valid UTF-8 (byte {e.start})") from None


def main() -> None:
    p = cli.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", type=Path, required=True, help="a run folder")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="jax")
    cli.add_decoding_flags(p)
    p.add_argument("sentences", nargs="*", help="sentences to reverse (default: read stdin)")
    cli.add_cache_flag(p)
    args = p.parse_args()
    cli.compilation_cache(args)
    model = Model.load(args.checkpoint, args.backend)
    lines = args.sentences or read_stdin()
    sentences = [split_words(line) for line in lines]
    decoded = iter(model.decode([s for s in sentences if s], **cli.decoding_options(args)))
    for s in sentences:
        print(" ".join(next(decoded).prediction) if s else "")


if __name__ == "__main__":
    cli.run(main)
