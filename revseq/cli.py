"""What every script shares: one-line errors, exit codes, argument checks."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from revseq.errors import RevseqError, RevseqWarning
from revseq.task.conventions import MAX_BEAM
from revseq.training import backends


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def int_between(lowest: int, highest: int | None = None):
    """argparse type: an integer in [lowest, highest] (no upper bound when highest is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"{value} must be at least {lowest}")
        if highest is not None and value > highest:
            raise argparse.ArgumentTypeError(f"{value} must be at most {highest}")
        return value

    return parse


def int_at_least(lowest: int):
    """argparse type: an integer >= lowest."""
    return int_between(lowest)


positive_int = int_at_least(1)


def device_count(text: str) -> int | str:
    """argparse type of --devices: a positive integer, or "all"."""
    return text if text == "all" else positive_int(text)


def non_negative_float(text: str) -> float:
    """argparse type: a finite float >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number >= 0")
    return value


def add_decoding_flags(p: argparse.ArgumentParser) -> None:
    """--keep-unk, --beam and --length-penalty, read back by decoding_options."""
    p.add_argument(
        "--keep-unk",
        action="store_true",
        help="print the model's own words: <UNK> where it emits it, and known words in their "
        "vocabulary form (default: the source word each output word copies, as typed)",
    )
    p.add_argument(
        "--beam",
        type=int_between(1, MAX_BEAM),
        default=1,
        metavar="K",
        help=f"beam search of width K, at most {MAX_BEAM} (default 1: greedy decoding)",
    )
    p.add_argument(
        "--length-penalty",
        type=non_negative_float,
        default=0.0,
        metavar="A",
        help="rank finished beams by log-probability / length**A (default 0: raw)",
    )


def decoding_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of inference.Model.decode the decoding flags ask for."""
    return {
        "restore_unk": not args.keep_unk,
        "beam": args.beam,
        "length_penalty": args.length_penalty,
    }


def add_cache_flag(p: argparse.ArgumentParser) -> None:
    """--jax-cache DIR: where JAX keeps compiled steps across runs, read by compilation_cache."""
    p.add_argument(
        "--jax-cache",
        metavar="DIR",
        default=os.environ.get("REVSEQ_JAX_CACHE", str(Path.home() / ".cache/revseq/jax")),
        help="JAX's persistent compilation cache (default: $REVSEQ_JAX_CACHE or "
        "~/.cache/revseq/jax; '' turns it off)",
    )


def compilation_cache(args: argparse.Namespace, backend: str = "jax") -> None:
    """Turn on JAX's persistent compilation cache where --jax-cache says, for a run of the JAX
    backend (when jax is here); a torch run leaves jax unimported."""
    if args.jax_cache and backend == "jax":
        backends.use_compilation_cache(args.jax_cache)


def run(main: Callable[[], int | None]) -> None:
    """Call main; a RevseqError or Ctrl-C becomes one line on stderr and a non-zero exit, a
    RevseqWarning one line `warning: ...` on stderr."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line
            sys.exit(main() or 0)
    except RevseqError as e:
        print(f"{'stopped' if e.exit_code == 130 else 'error'}: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except OSError as e:  # a path that cannot be read or written: name it, no traceback
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def _one_line(message, category, filename, lineno, file=None, line=None) -> None:
    """warnings.showwarning for the tools: a RevseqWarning as `warning: MESSAGE`, others as
    Python shows them."""
    if issubclass(category, RevseqWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


class StopSignals:
    """While active, Ctrl-C (SIGINT) and SIGTERM ask a long job to stop at its next safe point
    (calling the object says whether one did); a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self._old: dict = {}

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step (Ctrl-C again quits at once)", file=sys.stderr)

    def __enter__(self) -> StopSignals:
        for s in (signal.SIGINT, signal.SIGTERM):
            self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._old.items():
            signal.signal(s, handler)


LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A loopback TCP port nobody listens on now: a --coordinator for processes started on
    this host."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]
