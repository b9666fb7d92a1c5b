"""lax.scan's `unroll` setting: how many time steps each scan body holds, chosen per device.

It changes how a loop is compiled, never what it computes. On the 2-core x86 CPU this project
is measured on, 1 is fastest (2 makes a step 5-35 % slower and its compile 50 % longer);
GPUs are reported to gain from more. `python scripts/benchmark.py` prints the step time at 1, 2
and 4 on the device it runs on; REVSEQ_UNROLL=N sets it for a process.
"""

from __future__ import annotations

import os

from revseq.errors import RevseqError


def scan_unroll_setting() -> int:
    """Time steps per scan body: REVSEQ_UNROLL, or 1 (read when a function is traced)."""
    text = os.environ.get("REVSEQ_UNROLL", "1")
    if not text.isdigit() or int(text) < 1:
        raise RevseqError(f"REVSEQ_UNROLL must be a positive integer, not {text!r}")
    return int(text)
