"""A run's processes: one by default, or several started with JAX's own runtime
(jax.distributed) for multi-host data parallelism.

Every process runs the same recipe in lockstep (the same data order from the same seed, every
train step, evaluation and decode, which are collectives over one mesh of all processes'
devices); only process 0 writes files and logs. On CPU the collectives are gloo.

jax is imported only when several processes start, so a run of one process (and any torch
run) never imports it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from contextlib import contextmanager

import numpy as np

from revseq.errors import RevseqError, StoppedError

# A process that stops sending heartbeats for this long is taken for dead (the survivors
# stop); a process that exits waits this long for the others at the shutdown barrier.
HEARTBEAT_S = 20
SHUTDOWN_S = 10


class Processes:
    """This process's place among a run's processes (one by default): whether it writes the
    run's files and log, and the agreements all of them must reach at the same point. With
    one process every agreement is immediate; with several they are JAX collectives."""

    def __init__(self, index: int = 0, count: int = 1):
        self.index, self.count = index, count
        self.writer = index == 0

    def sync(self, name: str) -> None:
        """Wait until every process gets here (after process 0 wrote what others read)."""
        if self.count > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(name)

    def from_writer(self, text: str, size: int = 4096) -> str:
        """Process 0's text (up to `size` bytes of UTF-8), on every process."""
        if self.count == 1:
            return text
        from jax.experimental import multihost_utils

        data = np.zeros(size, np.uint8)
        encoded = np.frombuffer(text.encode(), np.uint8)[:size]
        data[: len(encoded)] = encoded
        got = np.asarray(multihost_utils.broadcast_one_to_all(data))
        return bytes(got).rstrip(b"\0").decode()

    def agreed(self, stop: Callable[[], bool]) -> Callable[[], bool]:
        """stop() asked of every process at once, true when it holds for any (so all stop
        at the same step); stop itself for one process."""
        if self.count == 1:
            return stop
        from jax.experimental import multihost_utils

        def any_stop() -> bool:
            flags = multihost_utils.process_allgather(np.int32(stop()))
            return bool(np.any(flags))

        return any_stop

    @contextmanager
    def fail_fast(self):
        """In a run of several processes, an error becomes one line on stderr and an exit at
        once: not jax's shutdown barrier, where the survivors of a dead peer would wait and
        then abort with a trace. A collective whose peer is gone is named as such. A
        requested stop (reached by every process together) exits as usual."""
        if self.count == 1:
            yield
            return
        import jax

        try:
            yield
        except StoppedError:
            raise
        except RevseqError as e:
            _exit(f"error: {e}", e.exit_code)
        except (jax.errors.JaxRuntimeError, ValueError) as e:
            if isinstance(e, ValueError) and "gloo" not in str(e).lower():
                raise  # (jax < 0.10 raises a collective's failure as a ValueError)
            _exit(
                f"error: process {self.index} of {self.count}: a collective failed, another "
                f"process has most likely died ({first_line(e)})",
                1,
            )


def cluster_env(env: Mapping[str, str] = os.environ) -> str | None:
    """The launcher JAX can read this process's place from, when it started several: a SLURM
    job step (srun) or Open MPI (mpirun); None otherwise."""
    if int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_STEP_NODELIST" in env:
        return "SLURM"
    if int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
        return "Open MPI"
    return None


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    env: Mapping[str, str] = os.environ,
) -> Processes:
    """This process's place in its run, JAX's distributed runtime started first (before any
    device is touched) when there are several. With the three arguments (`--coordinator
    HOST:PORT --num-processes N --process-id I`), those, process 0 listening on HOST:PORT
    alone; with coordinator "auto", or none
    under SLURM or Open MPI with several tasks, JAX's own cluster detection (SLURM, Open MPI,
    Cloud TPU); else one process, and nothing is started or imported."""
    given = (num_processes, process_id)
    if coordinator not in (None, "auto") and None in given:
        raise RevseqError("--coordinator needs --num-processes and --process-id")
    if coordinator in (None, "auto") and given != (None, None):
        raise RevseqError("--num-processes and --process-id need --coordinator HOST:PORT")
    if coordinator is None and cluster_env(env) is None:
        return Processes()
    address = None if coordinator == "auto" else coordinator
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        # Process 0's coordination service listens on the address named, not JAX's default
        # of every interface ([::]:PORT): docs/devices.md, "Open ports".
        jax.distributed.initialize(
            address, num_processes, process_id,
            heartbeat_timeout_seconds=HEARTBEAT_S, shutdown_timeout_seconds=SHUTDOWN_S,
            coordinator_bind_address=address,
        )  # fmt: skip
    except (RuntimeError, ValueError) as e:
        raise RevseqError(f"could not start JAX's distributed runtime: {first_line(e)}") from None
    return Processes(jax.process_index(), jax.process_count())


def first_line(e: BaseException) -> str:
    """The first line of an exception's message."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _exit(line: str, code: int) -> None:
    """One line on stderr, then this process ends at once (no atexit, no shutdown barrier)."""
    print(line, file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(code)
