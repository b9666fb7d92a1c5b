"""Start N training processes on this host, as torchrun does:
revseq launch --processes 2 -- --preset tiny --out runs/two

Each runs `python -m revseq train` with the given flags and --coordinator 127.0.0.1:PORT
(a free port on the loopback, where process 0 alone listens) --num-processes N
--process-id I. Process 0's output is shown (the others write nothing but errors); when one
fails, the rest are ended and the launcher exits with its code.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from revseq import cli

TRAIN = ["-m", "revseq", "train"]  # the installed package's command, not a script by path


def start(n: int, flags: list[str]) -> list[subprocess.Popen]:
    """The n processes of one run, process 0 first."""
    where = ["--coordinator", f"{cli.LOOPBACK}:{cli.free_port()}", "--num-processes", str(n)]
    return [
        subprocess.Popen(
            [sys.executable, *TRAIN, *flags, *where, "--process-id", str(i)],
            stdout=None if i == 0 else subprocess.DEVNULL,
        )
        for i in range(n)
    ]


def wait(procs: list[subprocess.Popen], grace: float = 10.0) -> int:
    """Wait for every process; when one fails, end the others (SIGTERM, then SIGKILL after
    `grace` seconds) and return its exit code, else 0."""
    while True:
        codes = [p.poll() for p in procs]
        failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
        if failed:
            i, code = failed[0]
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            deadline = time.monotonic() + grace
            for p in procs:
                try:
                    p.wait(max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            print(f"error: process {i} of {len(procs)} exited with code {code}", file=sys.stderr)
            return code if code > 0 else 1
        if all(c == 0 for c in codes):
            return 0
        time.sleep(0.2)


def add_arguments(p: cli.ArgumentParser) -> None:
    """launch's command line."""
    p.usage = "%(prog)s --processes N -- TRAIN_FLAGS"
    p.add_argument("--processes", type=cli.positive_int, required=True, metavar="N")
    p.add_argument("flags", nargs="*", help="revseq train's flags, after --")


def interrupt(procs: list[subprocess.Popen]) -> None:
    """Ctrl-C to every process (how SIGTERM to the launcher reaches them)."""
    for p in procs:
        p.send_signal(signal.SIGINT)


def main(args) -> int:
    procs = start(args.processes, args.flags)
    # Ctrl-C reaches every process of the terminal's group: they stop together, saving
    # `last`; the launcher waits for them instead of dying first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: interrupt(procs))
    return wait(procs)
