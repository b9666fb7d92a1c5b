"""scripts/train.py with crashes on purpose, for the tests that kill a run (test machinery:
the product has no hook for it).

REVSEQ_CRASH="<point>:<n>" sends this process SIGKILL (or the signal REVSEQ_CRASH_SIGNAL
names, e.g. SIGINT) the n-th time it reaches <point>: "step", after a call that trained
batches, or "write:<file name>", halfway through writing that file's temporary (what a crash
in the middle of the atomic write of a checkpoint leaves on disk).
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import tempfile
from pathlib import Path

from revseq.training import backends, checkpoint

ROOT = Path(__file__).resolve().parents[1]
POINT, _, NTH = os.environ.get("REVSEQ_CRASH", "").rpartition(":")
SIGNAL = signal.Signals[os.environ.get("REVSEQ_CRASH_SIGNAL", "SIGKILL")]
visits = [0]


def reached() -> bool:
    """Count a visit to the crash point; True on the n-th."""
    visits[0] += 1
    return visits[0] == int(NTH)


def crash_after_steps(load):
    """backends.load whose backend's train_epoch reports each call to the crash point."""

    def patched(*args, **kwargs):
        backend = load(*args, **kwargs)
        train_epoch = backend.train_epoch

        def with_point(state, batches, *, on_call=lambda done, sums: None, **rest):
            def stepped(done, sums):
                on_call(done, sums)
                if reached():
                    os.kill(os.getpid(), SIGNAL)

            return train_epoch(state, batches, on_call=stepped, **rest)

        backend.train_epoch = with_point
        return backend

    return patched


def crash_mid_write(atomic_write):
    """checkpoint.atomic_write that, at the crash point, leaves half the file's temporary."""

    def patched(path, data):
        path = Path(path)
        if f"write:{path.name}" == POINT and reached():
            fd, _ = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.write(fd, data[: len(data) // 2])
            os.fsync(fd)
            os.kill(os.getpid(), SIGNAL)
        return atomic_write(path, data)

    return patched


if POINT == "step":
    backends.load = crash_after_steps(backends.load)
elif POINT.startswith("write:"):
    checkpoint.atomic_write = crash_mid_write(checkpoint.atomic_write)
sys.argv = [str(ROOT / "scripts" / "train.py"), *sys.argv[1:]]
runpy.run_path(sys.argv[0], run_name="__main__")
