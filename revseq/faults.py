"""Crashes on purpose, for the tests that kill a run: REVSEQ_CRASH="<point>:<n>" sends this
process SIGKILL (or the signal named by REVSEQ_CRASH_SIGNAL, e.g. SIGINT) the n-th time it
reaches <point>: "step" after a training call, "write:<file name>" halfway through writing
that file's temporary. Unset, it does nothing."""

from __future__ import annotations

import os
import signal

_reached: dict[str, int] = {}


def point(name: str) -> None:
    """Count a visit to `name`; signal this process if REVSEQ_CRASH names this visit."""
    want, _, n = os.environ.get("REVSEQ_CRASH", "").rpartition(":")
    if want != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if str(_reached[name]) == n:
        os.kill(os.getpid(), signal.Signals[os.environ.get("REVSEQ_CRASH_SIGNAL", "SIGKILL")])
