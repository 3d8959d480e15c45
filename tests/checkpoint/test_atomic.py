"""Atomic replacement: helpers keep the old file on any error, clean up after
dead writers, and a writer SIGKILLed at random points, many times, always
leaves a complete, loadable checkpoint holding its latest acknowledged save
(or a later one)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from odyssey_training.checkpoint import (atomic_open, atomic_path, atomic_write_bytes,
                                         atomic_write_text, load_checkpoint, save_checkpoint)

from . import killed_writer


def temps(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_helpers_replace_and_append(tmp_path):
    target = tmp_path / "log.csv"
    atomic_write_text(target, "a\n")
    with atomic_open(target, "a", encoding="utf-8") as f:
        f.write("b\n")
    assert target.read_text() == "a\nb\n"
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    with atomic_open(tmp_path / "new.txt", "a") as f:     # append to a missing file: create
        f.write("x")
    assert (tmp_path / "new.txt").read_text() == "x"
    with pytest.raises(ValueError, match="mode must be"):
        with atomic_open(target, "r+"):
            pass
    assert temps(tmp_path) == []


def test_an_error_mid_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(target, "wb") as f:
            f.write(b"new, half written")
            raise RuntimeError("boom")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as temp:
            temp.write_bytes(b"new")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and temps(tmp_path) == []


def test_temporary_files_of_dead_writers_are_removed(tmp_path):
    target = tmp_path / "c.bin"
    with atomic_path(target) as temp:
        prefix = temp.name.rsplit(".", 3)[0]            # .c.bin.<host>
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f"{prefix}.{dead}.abcd1234.tmp"
    alive = tmp_path / f"{prefix}.{os.getppid()}.abcd1234.tmp"
    other = tmp_path / f".other.bin.host.{dead}.abcd1234.tmp"
    for p in (stale, alive, other):
        p.write_bytes(b"partial")
    atomic_write_bytes(target, b"new")
    assert not stale.exists() and alive.exists() and other.exists()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")
def test_sigkill_mid_write_always_leaves_a_loadable_checkpoint(tmp_path):
    rounds = 30
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([killed_writer.__name__])
    path = tmp_path / "ckpt.safetensors"
    start = time.perf_counter()
    save_checkpoint(path, params=killed_writer.make_params(), extra={"writer": -1, "count": 0})
    write_time = time.perf_counter() - start
    rng = np.random.default_rng(2024)
    acknowledged = (-1, 0)
    landed_mid_write = 0
    for writer in range(rounds):
        receiver, sender = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=killed_writer.write_forever, args=(str(path), sender, writer),
                           daemon=True)
        proc.start()
        sender.close()
        for _ in range(int(rng.integers(1, 4))):        # let it finish 1-3 saves ...
            acknowledged = receiver.recv()
        deadline = time.perf_counter() + rng.uniform(0, 1) * write_time
        while time.perf_counter() < deadline:           # ... and kill at a random point of the next
            pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        receiver.close()
        assert proc.exitcode == -signal.SIGKILL
        landed_mid_write += any(f".{proc.pid}." in name for name in temps(tmp_path))
        params = killed_writer.make_params(np.nan)
        extra = load_checkpoint(path, params=params)
        saved = (extra["writer"], extra["count"])
        assert saved >= acknowledged                  # no acknowledged save is ever lost
        expected = killed_writer.value(*saved) if saved[0] >= 0 else 0.0
        assert all((p.data == expected).all() for p in params)   # one whole save, not a mix
    # a kill inside the temporary file's lifetime leaves it behind: many kills must land
    # there (others land in the directory fsync or between saves)
    assert landed_mid_write >= rounds // 5, f"only {landed_mid_write} kills hit a write"
    save_checkpoint(path, params=killed_writer.make_params(), extra={"writer": 0, "count": 0})
    assert temps(tmp_path) == []                       # the dead writers' leftovers are gone


def test_atomic_link_names_the_same_file_and_survives_either_being_replaced(tmp_path):
    from odyssey_training.checkpoint import atomic_link
    best, last = tmp_path / "best.bin", tmp_path / "last.bin"
    atomic_write_bytes(best, b"state 1")
    atomic_write_bytes(last, b"older")
    atomic_link(best, last)
    assert last.read_bytes() == b"state 1" and os.path.samefile(best, last)
    atomic_write_bytes(last, b"state 2")            # a new last: best keeps its state
    assert best.read_bytes() == b"state 1" and last.read_bytes() == b"state 2"
    os.remove(best)
    assert last.read_bytes() == b"state 2"
    assert temps(tmp_path) == []


def test_atomic_link_copies_where_links_fail(tmp_path, monkeypatch):
    from odyssey_training.checkpoint import atomic_link

    def no_links(*args):
        raise OSError("hard links not supported here")
    monkeypatch.setattr(os, "link", no_links)
    source, target = tmp_path / "a.bin", tmp_path / "b.bin"
    atomic_write_bytes(source, b"payload")
    atomic_link(source, target)
    assert target.read_bytes() == b"payload" and not os.path.samefile(source, target)
    with pytest.raises(FileNotFoundError):
        atomic_link(tmp_path / "missing.bin", target)
    assert target.read_bytes() == b"payload" and temps(tmp_path) == []
