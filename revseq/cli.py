"""What every script shares: one-line errors, exit codes, argument checks, a progress line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from revseq.errors import RevseqError


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def int_at_least(lowest: int):
    """argparse type: an integer >= lowest."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"{value} must be at least {lowest}")
        return value

    return parse


positive_int = int_at_least(1)


def run(main: Callable[[], int | None]) -> None:
    """Call main; a RevseqError or Ctrl-C becomes one line on stderr and a non-zero exit."""
    try:
        sys.exit(main() or 0)
    except RevseqError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except OSError as e:  # a path that cannot be read or written: name it, no traceback
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def progress(label: str, total: int) -> Callable[[int], None]:
    """A callback drawing `label [#####.....] i/total` on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        return lambda i: None

    def show(i: int) -> None:
        filled = 30 * i // max(total, 1)
        end = "\r" if i < total else "\r\033[K"
        print(
            f"{label} [{'#' * filled}{'.' * (30 - filled)}] {i}/{total}",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return show
