"""Wisdom: the tuner's measured choices, kept in the kernel cache per target.

As FFTW keeps its wisdom, each entry remembers, for one kernel (its canonical
IR text, or the norm pass) and one machine, which variant won and what every
candidate measured.  The machine is the target's triple, LLVM CPU name and full
feature string, plus the number of cores this process may use, the LLVM,
llvmlite and codegen versions: a different machine, a container with fewer
cores or a new compiler finds no wisdom and tunes again.

An entry is JSON text in the checksummed cache (``<key>.wisdom``, see
:mod:`odyssey_codegen.cache`).  Reading it only parses and validates it (never
executes anything): an entry that does not parse, has another format, belongs
to another kernel or machine (a *foreign* entry: the key is a hash, so a copied
or tampered file can still sit under this key) or names an impossible variant is
ignored, counted in ``STATS["rejected"]``, and tuned again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass

from .. import cache
from ..target import Target
from ..variant import Variant

__all__ = ["Wisdom", "identity", "key", "load", "store", "STATS", "CLASSES", "FORMAT"]

FORMAT = "odyssey-wisdom/1"
#: size classes a choice is kept for: groups that stay in the caches, and the rest
CLASSES = ("cache", "stream")
#: per-process counters (tests count tuning runs with them, never clocks)
STATS = {"tuned": 0, "loaded": 0, "rejected": 0, "background": 0, "errors": 0}
_stats_lock = threading.Lock()


def count(name: str) -> None:
    with _stats_lock:
        STATS[name] += 1


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def identity(target: Target) -> dict[str, object]:
    """What makes a measurement valid: the machine and the compiler that built it."""
    return {"triple": target.triple, "cpu": target.cpu, "features": target.features,
            "cores": usable_cores(), "llvm": target.llvm_version,
            "llvmlite": target.llvmlite_version, "codegen": target.codegen_version}


def _kernel_digest(ident: str, kind: str, dtype: str) -> str:
    return hashlib.sha256(f"{kind}\n{dtype}\n{ident}".encode()).hexdigest()


def key(ident: str, kind: str, dtype: str, target: Target) -> str:
    """The cache key of one kernel's wisdom on one machine."""
    blob = json.dumps([FORMAT, _kernel_digest(ident, kind, dtype), identity(target)],
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Wisdom:
    """The winners per size class and the measurements behind them (``report``:
    per class, the candidates' tags and median seconds per element)."""
    choices: dict[str, Variant]
    date: str
    seconds: float
    report: dict


def load(ident: str, kind: str, dtype: str, target: Target) -> Wisdom | None:
    """This kernel's wisdom for this machine, or None (absent, corrupt or foreign)."""
    payload = cache.read(key(ident, kind, dtype, target), ".wisdom")
    if payload is None:
        return None
    try:
        data = json.loads(payload.decode("utf-8"))
        if (not isinstance(data, dict) or data.get("format") != FORMAT
                or data.get("kernel") != _kernel_digest(ident, kind, dtype)
                or data.get("target") != identity(target)):
            raise ValueError("foreign wisdom: another format, kernel or machine")
        choices = {name: Variant.from_dict(data["choices"][name]) for name in CLASSES}
        width_ok = all(v.width * (4 if dtype == "float32" else 8) * 8 <= 512
                       for v in choices.values())
        if not width_ok or sorted(data["choices"]) != sorted(CLASSES):
            raise ValueError("impossible choice")
        wisdom = Wisdom(choices, str(data["date"]), float(data["seconds"]),
                        dict(data["report"]))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        count("rejected")
        return None
    count("loaded")
    return wisdom


def store(ident: str, kind: str, dtype: str, target: Target, wisdom: Wisdom) -> None:
    """Write ``wisdom`` (atomically; a read-only cache only costs tuning again)."""
    data = {"format": FORMAT, "kernel": _kernel_digest(ident, kind, dtype),
            "target": identity(target), "kind": kind, "dtype": dtype,
            "choices": {name: v.to_dict() for name, v in wisdom.choices.items()},
            "date": wisdom.date, "seconds": wisdom.seconds, "report": wisdom.report}
    try:
        cache.write(key(ident, kind, dtype, target), json.dumps(data, indent=1).encode(),
                    ".wisdom")
    except OSError:
        pass
