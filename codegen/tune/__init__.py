"""Variant choice by measurement on the machine at hand ("wisdom", as FFTW).

Which :class:`~odyssey_codegen.variant.Variant` of a kernel runs
(:func:`choose`), in order:

1. an explicit width (``simd_width=``), ``ODYSSEY_SIMD_BITS`` or
   ``ODYSSEY_PREFETCH_BYTES``: the default shape with those settings, never timed;
2. ``ODYSSEY_TUNE=0``: the default shape, never timed (deterministic: the same
   kernels, so the same bits, on every run of a machine);
3. a kernel compiled for another CPU (``ODYSSEY_TARGET_CPU``, ``--cpu``): the default
   shape (the tuner can only time this machine);
4. this machine's wisdom for the kernel (:mod:`.wisdom`), for the group's size
   class: ``cache`` up to :data:`CACHE_CLASS_BYTES` of arrays, else ``stream``;
5. no wisdom yet: the default shape now; for a group of at least
   :data:`AUTO_TUNE_ELEMENTS` values (where the shape is worth seconds over a
   run) the kernel is tuned once in a background thread at the lowest CPU
   priority, and later processes use its wisdom.  A process never switches
   kernels in the middle of a run: its results stay those of one variant.

``odyssey-codegen tune`` (:func:`tune`) measures explicitly and prints every
candidate.  Tuning changes how a kernel is shaped, never what it computes:
all variants agree to rounding (the ``reciprocal`` division form moves results
by at most ~1 ulp; see :mod:`odyssey_codegen.variant`).
"""

from __future__ import annotations

import os
import threading
from typing import Callable

from ..target import Target, TargetError, simd_bits_from_env
from ..variant import Variant
from . import wisdom
from .job import Job, default_for, divides_by_uniform
from .wisdom import STATS, Wisdom

__all__ = ["choose", "tune", "Job", "STATS", "default_for", "divides_by_uniform", "tune_mode", "size_class",
           "AUTO_TUNE_ELEMENTS", "CACHE_CLASS_BYTES", "wait_background"]

#: groups at least this large are tuned in the background when no wisdom exists
AUTO_TUNE_ELEMENTS = 1 << 20
#: groups whose arrays (all columns) fit this many bytes use the ``cache`` choice
CACHE_CLASS_BYTES = 8 << 20
_started: set[str] = set()
_threads: list[threading.Thread] = []
_lock = threading.Lock()


def tune_mode() -> bool:
    """False when ``ODYSSEY_TUNE=0`` (never time anything)."""
    text = os.environ.get("ODYSSEY_TUNE", "1")
    if text not in ("0", "1"):
        raise TargetError(f"ODYSSEY_TUNE={text!r} (expected 0: default kernels, never timed; "
                          "or 1: measured wisdom, the default)")
    return text == "1"


def size_class(footprint: int) -> str:
    """``cache`` for groups whose arrays fit :data:`CACHE_CLASS_BYTES`, else ``stream``."""
    return "cache" if 0 < footprint <= CACHE_CLASS_BYTES else "stream"


def _pinned() -> str:
    if simd_bits_from_env():
        return "ODYSSEY_SIMD_BITS"
    return "ODYSSEY_PREFETCH_BYTES" if os.environ.get("ODYSSEY_PREFETCH_BYTES") else ""


def choose(ident: str, kind: str, dtype: str, target: Target, width: int | None,
           elements: int, footprint: int, job: Callable[[], Job]) -> tuple[Variant, str]:
    """(variant, why) for one kernel and a group of ``elements`` values whose
    arrays take ``footprint`` bytes (0: unknown, the ``stream`` choice)."""
    default, enabled = default_for(kind, dtype, target, width), tune_mode()
    if width:
        return default, f"simd_width={width}: the default shape at that width, never tuned"
    pinned = _pinned()
    if pinned:
        return default, f"{pinned} is set: the default shape with it, never tuned"
    if not enabled:
        return default, "ODYSSEY_TUNE=0: the default shape, never tuned"
    if not target.is_host():
        return default, (f"compiled for {target.cpu}, not this machine: the default shape "
                         "(the tuner times only the machine it runs on)")
    cls = size_class(footprint)
    found = wisdom.load(ident, kind, dtype, target)
    if found is not None:
        return found.choices[cls], (f"wisdom ({cls} class): fastest measured on this machine "
                                    f"on {found.date}")
    if elements >= AUTO_TUNE_ELEMENTS:
        _background(wisdom.key(ident, kind, dtype, target), job)
        return default, ("the default shape: no wisdom for this machine yet; tuning in the "
                         "background (or run `odyssey-codegen tune`)")
    return default, "the default shape: no wisdom for this machine yet (`odyssey-codegen tune`)"


def tune(job: Job, log: Callable[[str, dict], None] | None = None,
         force: bool = False) -> tuple[Wisdom, bool]:
    """(wisdom, measured now) for ``job``: the stored wisdom unless ``force`` or
    there is none (or it is corrupt or foreign), else measure and store."""
    if not force:
        found = wisdom.load(job.ident, job.kind, job.dtype, job.target)
        if found is not None:
            return found, False
    from .search import tune_job   # the timing harness, only when measuring
    result = tune_job(job, log)
    wisdom.store(job.ident, job.kind, job.dtype, job.target, result)
    return result, True


def _background(key: str, job: Callable[[], Job]) -> None:
    with _lock:
        if key in _started:
            return
        _started.add(key)

    def run() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):   # not Linux: run at the normal priority
            pass
        try:
            tune(job())
        except Exception:  # never the user's problem: the default keeps running
            wisdom.count("errors")

    thread = threading.Thread(target=run, name="odyssey-tune", daemon=True)
    _threads.append(thread)
    wisdom.count("background")
    thread.start()


def wait_background(timeout: float | None = None) -> None:
    """Wait for this process's background tuning threads (tests, benchmarks)."""
    for thread in list(_threads):
        thread.join(timeout)
