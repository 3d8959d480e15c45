"""The on-disk cache: atomic entries, corruption detection, a second process
compiles nothing, concurrent fillers all succeed (counted, never timed)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from odyssey_codegen import cache

CHILD = r"""
import json, numpy as np
import odyssey_training as ot
from odyssey_training.optimizers import AdamW, SGD
from odyssey_codegen.api import STATS
w = ot.Parameter(np.linspace(-1, 1, 1000, dtype=np.float32))
v = ot.Parameter(np.linspace(-1, 1, 100))
for opt in (AdamW([w], lr=0.1), SGD([v], lr=0.1, momentum=0.9)):
    for _ in range(3):
        w.grad = 2 * w.data
        v.grad = 2 * v.data
        opt.step()
print(json.dumps({"stats": STATS, "w": float(np.abs(w.data).sum()), "v": float(np.abs(v.data).sum())}))
"""


#: object files the child needs: its two kernels and the kernel-call entry
#: (odyssey_codegen.entry)
OBJECTS = 3


def run_child(cache_dir: Path) -> dict:
    env = {**os.environ, "ODYSSEY_CACHE_DIR": str(cache_dir)}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_compiles_nothing(tmp_path):
    first = run_child(tmp_path)
    assert first["stats"]["compiled"] == OBJECTS
    second = run_child(tmp_path)
    assert second["stats"]["compiled"] == 0 and second["stats"]["linked"] == OBJECTS
    assert second["w"] == first["w"] and second["v"] == first["v"]


def test_truncated_entry_is_rebuilt(tmp_path):
    reference = run_child(tmp_path)
    entries = sorted(tmp_path.glob("*.o"))
    assert len(entries) == OBJECTS
    blob = entries[0].read_bytes()
    entries[0].write_bytes(blob[: len(blob) // 2])
    again = run_child(tmp_path)
    assert again["stats"]["compiled"] == 1
    assert again["w"] == reference["w"] and again["v"] == reference["v"]
    assert entries[0].read_bytes() == blob  # rewritten whole


def test_four_processes_fill_an_empty_cache_at_once(tmp_path):
    env = {**os.environ, "ODYSSEY_CACHE_DIR": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert len({(r["w"], r["v"]) for r in results}) == 1
    assert len(list(tmp_path.glob("*.o"))) == OBJECTS
    assert not list(tmp_path.glob(".*.tmp"))
    assert run_child(tmp_path)["stats"]["compiled"] == 0


@pytest.mark.nokernel
def test_corrupt_entries_read_as_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("ODYSSEY_CACHE_DIR", str(tmp_path))
    key = "ab" * 32
    cache.write(key, b"payload")
    assert cache.read(key) == b"payload"
    path = tmp_path / f"{key}.o"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0xFF
    path.write_bytes(bytes(blob))
    assert cache.read(key) is None
    path.write_bytes(b"")
    assert cache.read(key) is None
    path.write_bytes(cache.MAGIC)
    assert cache.read(key) is None
    assert cache.info()["entries"] == 1
    assert cache.clear() == 1 and cache.read(key) is None


@pytest.mark.nokernel
def test_cache_location_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("ODYSSEY_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("ODYSSEY_CACHE_DIR")
    assert cache.cache_dir() == tmp_path / "xdg" / "odyssey-training"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.cache_dir() == Path.home() / ".cache" / "odyssey-training"


@pytest.mark.nokernel
def test_keys_must_be_hex(tmp_path, monkeypatch):
    monkeypatch.setenv("ODYSSEY_CACHE_DIR", str(tmp_path))
    with pytest.raises(ValueError):
        cache.write("../escape", b"x")
