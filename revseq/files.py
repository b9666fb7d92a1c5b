"""Files as a job that must not lose them uses them: written so that a crash leaves the old
version or the new one, never a torn one; read once, within a size, whatever kind of file the
user names; and a folder held by one job at a time."""

from __future__ import annotations

import json
import os
import select
import shlex
import socket
import stat
import sys
import tempfile
import time
from pathlib import Path

from revseq.errors import RevseqError


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync it, then rename over `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)  # mkstemp's 0600 would hide results from other users
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class FolderLock:
    """An exclusive claim on a folder for as long as a job runs in it, as git's index.lock: a
    file created with O_EXCL, which also works on the shared file systems several hosts write
    through. It names its holder (host, pid, command); a lock whose holder was this host's
    and is gone (a kill -9) is taken over, any other refuses the second job in one line."""

    NAME = ".revseq.lock"

    def __init__(self, folder: Path):
        self.path = Path(folder) / self.NAME
        self.held = False

    def acquire(self) -> None:
        """Hold the lock, taking over a stale one; RevseqError if another job holds it."""
        me = {"host": socket.gethostname(), "pid": os.getpid(), "command": shlex.join(sys.argv)}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and not self._stale(holder):
                    raise RevseqError(
                        f"{self.path.parent} is in use by another job (pid {holder.get('pid')} "
                        f"on {holder.get('host')}: {holder.get('command')}); if none is, "
                        f"remove {self.path}"
                    ) from None
                self._break(holder)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(me) + "\n")
            self.held = True
            return
        raise RevseqError(f"could not lock {self.path.parent}: another job took it meanwhile")

    def release(self) -> None:
        """Give the lock up (a no-op when not held)."""
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _break(self, stale: dict | None) -> None:
        """Remove a lock whose holder is gone, unless another job is breaking it too or took
        the folder since (one breaker at a time, through a second exclusive file)."""
        breaker = self.path.with_name(self.NAME + ".break")
        try:
            fd = os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise RevseqError(f"{self.path.parent} is being taken over by another job") from None
        try:
            if self._holder() == stale:
                self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)
            breaker.unlink(missing_ok=True)

    def _holder(self) -> dict | None:
        try:
            holder = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return holder if isinstance(holder, dict) else None

    @staticmethod
    def _stale(holder: dict) -> bool:
        """Whether the holder was a process of this host that no longer runs."""
        if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
            return False
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


WRITER_S = 2.0  # how long a FIFO read waits for its writer to open it


def read_bytes_once(path: Path, limit: int, idle_s: float = 60.0) -> bytes:
    """The bytes of a file, a pipe or a process substitution (`<(cat f)`), read once and at most
    `limit` of them; RevseqError naming the cause for a folder, a device, a file over the
    limit, or a pipe that stays silent for idle_s seconds. Never blocks on a FIFO without a
    writer: one that no writer opens within WRITER_S seconds reads as empty."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise RevseqError(f"not found: {path}") from None
    if stat.S_ISDIR(mode):
        raise RevseqError(f"{path} is a folder, not a text file")
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise RevseqError(f"{path} is a device or socket, not a text file")
    fd = os.open(path, os.O_RDONLY | (os.O_NONBLOCK if stat.S_ISFIFO(mode) else 0))
    opened = time.monotonic()
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            try:
                chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            except BlockingIOError:  # a pipe whose writer has sent nothing yet
                if not select.select([fd], [], [], idle_s)[0]:
                    raise RevseqError(f"{path}: no data for {idle_s:.0f} s") from None
                continue
            if not chunk:  # the end; or a FIFO whose writer has not opened it yet: wait a little
                if stat.S_ISFIFO(mode) and not chunks and time.monotonic() < opened + WRITER_S:
                    time.sleep(0.05)
                    continue
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    raise RevseqError(f"{path} is over the limit of {limit / 2**20:g} MiB")
