"""The faults a hostile but fair user found, each guarded by the test named after it: two jobs
in one run folder, an open coordinator port, running out of memory, a corpus that is not a
regular file, and a failed run that leaves a half-made folder behind."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest
from helpers import ROOT, script, start_python

from revseq import commands
from revseq.commands import launch
from revseq.errors import RevseqError
from revseq.files import FolderLock
from revseq.task import corpus
from revseq.task.config import preset
from revseq.training import processes, run

TEXT = "".join(f"the cat sat on mat {i}\n" for i in range(60))


def lock_file(folder: Path, pid: int) -> Path:
    path = folder / FolderLock.NAME
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "command": "x"}))
    return path


def test_a_second_job_in_a_run_folder_is_refused_and_the_folder_left_alone(trained_run, cli,
                                                                          tmp_path):  # fmt: skip
    copy = tmp_path / "copy"
    shutil.copytree(trained_run("jax", "tiny"), copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()}
    with FolderLock(copy):  # a live job (this process) holds it
        proc = cli("train", "--resume", str(copy))
        new = cli("train", "--out", str(copy))
    assert proc.returncode == new.returncode == 2
    assert "is in use by another job" in proc.stderr and "in use" in new.stderr
    assert {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()} == before


def test_a_lock_left_by_a_killed_job_is_taken_over_and_a_live_one_is_not(tmp_path):
    gone = start_python("-c", "pass")
    gone.wait()
    lock_file(tmp_path, gone.pid)
    with FolderLock(tmp_path) as lock:
        assert lock.held and json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert not (tmp_path / FolderLock.NAME).exists()
    lock_file(tmp_path, os.getppid())  # alive
    with pytest.raises(RevseqError, match=f"pid {os.getppid()}"):
        FolderLock(tmp_path).acquire()


def test_the_coordinator_listens_on_the_address_named_and_launch_names_the_loopback(
    monkeypatch,
):
    seen = {}
    import jax

    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **kw: seen.update(kw))
    monkeypatch.setattr(jax, "process_index", lambda: 0)
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    processes.initialize("10.1.2.3:4567", 2, 0)
    assert seen["coordinator_bind_address"] == "10.1.2.3:4567"
    started = []
    monkeypatch.setattr(launch.subprocess, "Popen", lambda argv, **kw: started.append(argv))
    launch.start(2, ["--preset", "tiny"])
    addresses = {argv[argv.index("--coordinator") + 1] for argv in started}
    assert len(addresses) == 1 and addresses.pop().startswith("127.0.0.1:")
    assert started[0][1:4] == ["-m", "revseq", "train"]


@pytest.mark.parametrize(
    "error",
    [MemoryError("Unable to allocate 71.5 GiB"), type("JaxRuntimeError", (RuntimeError,), {})(
        "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 3.9GiB")],
)  # fmt: skip
def test_running_out_of_memory_is_one_line_naming_the_setting_to_lower(
    monkeypatch, cli, trained_run, error
):
    from revseq.commands import reverse

    def exhausted(args):
        raise error

    monkeypatch.setattr(reverse, "main", exhausted)
    proc = cli("reverse", "--checkpoint", str(trained_run("jax", "tiny")), "the cat sat")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: out of memory (") and "lower --beam" in proc.stderr
    assert commands.out_of_memory(error)


def test_a_new_run_that_fails_before_its_first_checkpoint_leaves_no_folder(monkeypatch, cli,
                                                                           tmp_path):  # fmt: skip
    def fails(*args, **kwargs):
        raise MemoryError("Unable to allocate the train state")

    monkeypatch.setattr(run, "restore_or_init", fails)
    out = tmp_path / "runs" / "h"
    proc = cli("train", "--preset", "tiny", "--out", str(out))
    assert proc.returncode == 2 and "out of memory" in proc.stderr
    assert not out.exists(), "the same command must be able to run again"
    out.mkdir()
    assert cli("train", "--preset", "tiny", "--out", str(out)).returncode == 2
    assert out.is_dir() and not list(out.iterdir()), "a folder the user made stays, emptied"


def test_a_corpus_on_a_device_is_refused_and_a_fifo_without_writer_does_not_hang(cli, tmp_path):
    zero = cli("train", "--preset", "tiny", "--corpus", "/dev/zero", "--out", str(tmp_path / "z"))
    assert zero.returncode == 2 and "is a device or socket, not a text file" in zero.stderr
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    silent = cli("train", "--preset", "tiny", "--corpus", str(fifo), "--out", str(tmp_path / "f"))
    assert silent.returncode == 2 and "holds no sentence" in silent.stderr
    assert not (tmp_path / "z").exists() and not (tmp_path / "f").exists()


def test_a_corpus_from_a_pipe_is_read_once(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(TEXT))
    writer.start()
    cfg, text = corpus.configure(preset("tiny"), fifo, {"min_count": 2, "epochs": 1})
    writer.join()
    assert cfg.data.corpus == str(fifo) and len(text.sentences) == 60
    task = run.prepare(cfg, None, text=text)  # from what was read, not the drained pipe
    assert len(task.splits.train) + len(task.splits.val) + len(task.splits.test) == 60
    with pytest.raises(RevseqError, match="holds no sentence"):
        run.prepare(cfg, None)  # reading the pipe again finds it empty


def test_a_corpus_whose_lines_are_all_too_long_says_so(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("word " * 101 + "\n\n")
    with pytest.raises(RevseqError, match=r"no sentence of at most 100 words \(1 line\(s\) over"):
        corpus.read(path)


@pytest.mark.integration
def test_two_runs_into_one_folder_one_is_refused_and_the_other_whole_and_resumable(tmp_path):
    out = tmp_path / "D"
    flags = ["--preset", "tiny", "--epochs", "2", "--n-train", "640", "--out", str(out)]
    train = str(ROOT / "scripts" / "train.py")
    procs = [start_python(train, *flags, *extra) for extra in ([], ["--seed", "7"])]
    codes = [p.wait(600) for p in procs]
    errors = [p.stderr.read().decode() for p in procs]
    assert sorted(codes) == [0, 2], errors
    refused = errors[codes.index(2)]
    assert "in use by another job" in refused or "already holds files" in refused, refused
    seed = json.loads((out / "run.json").read_text())["config"]["train"]["seed"]
    assert json.loads((out / "best.json").read_text())["config"]["train"]["seed"] == seed
    assert len(json.loads((out / "run.json").read_text())["runs"]) == 1
    again = script("train.py", "--resume", str(out))
    assert again.returncode == 0 and "Training had finished" in again.stdout, again.stderr


@pytest.mark.integration
def test_concurrent_resumes_lose_no_record(trained_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(trained_run("jax", "tiny"), copy)
    procs = [start_python(str(ROOT / "scripts" / "train.py"), "--resume", str(copy))
             for _ in range(2)]  # fmt: skip
    codes = sorted(p.wait(600) for p in procs)
    runs = json.loads((copy / "run.json").read_text())["runs"]
    assert len(runs) == 1 + codes.count(0) and codes[0] == 0, codes
