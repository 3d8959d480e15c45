"""The tuner's search: which candidates, timed how, and which one wins.

For each size class the search walks the variant's dimensions one at a time
(coordinate descent), each stage timing its candidates interleaved against the
incumbent and keeping the fastest median:

1. ``shape``: vector width (128, 256, 512 bits, up to the widest the CPU has),
   times the division form when the kernel divides by a per-step value;
2. ``unroll``: vectors per main-loop iteration (the norm pass: interleaved streams);
3. ``prefetch``: none, 256, 512, 1024 or 2048 bytes ahead (the norm pass, one
   read stream per part: up to 4096);
4. ``stores`` (``stream`` class, update kernels on x86): plain or streaming.  A
   group that fits the caches finds its arrays there at the next step unless
   streaming stores sent them to memory; a timing that touches other memory
   between steps cannot charge that to the candidate reliably (measured: the
   small-class timing favoured streaming stores that made LeNet-5's Adagrad step
   20 % slower in the benchmark), so small groups keep plain stores;
5. ``rows`` (``stream`` class only: small groups run in one call): how tensors
   are cut into table rows, timed with every usable core taking tasks on
   demand, as the runtime runs a large group.

A challenger replaces the incumbent only when the median over rounds of its time
over the incumbent's in the same round is below ``1 -`` :data:`MARGIN` (a slow
phase of a shared machine slows both alike and cancels out, and noise does not
trade the incumbent for an equal) and its median time is lower too.
Classes: ``stream`` runs on :data:`STREAM_BYTES` of arrays (more than the last
level cache of the machines this was measured on, so memory is the limit, as
for a large model), ``cache`` on :data:`CACHE_BYTES` with other memory touched
before every step (a small model: its arrays come from the caches, warm or not).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

from ..target import vector_bits
from ..variant import CHUNKS, DIVISIONS, Variant, unroll_for
from .job import Job, default_for
from .timing import Runner, Workload, interleaved, median
from .wisdom import CLASSES, Wisdom, count, usable_cores

__all__ = ["tune_job", "MARGIN", "STREAM_BYTES", "CACHE_BYTES"]

#: a challenger must beat the incumbent's median by this fraction
MARGIN = 0.01
STREAM_BYTES = 256 << 20
CACHE_BYTES = 1 << 20
#: (min rounds, max rounds, seconds per candidate) of a stage, by class
LIMITS = {"stream": (5, 9, 0.06), "cache": (10, 60, 0.012)}


def _stages(job: Job, cls: str) -> list[tuple[str, Callable[[Variant], list[Variant]]]]:
    widest = vector_bits(job.target.cpu, job.target.features)[1]
    widths = [bits // (8 * job.itemsize) for bits in (128, 256, 512) if bits <= widest]
    divisions = DIVISIONS if job.divides else ("exact",)
    sumsq = job.kind == "sumsq"

    def shape(v: Variant) -> list[Variant]:
        return [dataclasses.replace(v, width=w, division=d,
                                    unroll=v.unroll if sumsq else unroll_for(w, job.itemsize))
                for w in widths for d in divisions]

    stages = [("shape", shape),
              ("unroll", lambda v: [dataclasses.replace(v, unroll=u)
                                    for u in ((2, 4, 8) if sumsq else (1, 2, 4))]),
              ("prefetch", lambda v: [dataclasses.replace(v, prefetch=p) for p in (
                  (0, 512, 1024, 2048, 4096) if sumsq else (0, 256, 512, 1024, 2048))])]
    if cls == "stream" and not sumsq and job.target.triple.startswith(("x86_64", "i686",
                                                                        "i386")):
        stages.append(("stores", lambda v: [dataclasses.replace(v, streaming=s)
                                            for s in (False, True)]))
    if cls == "stream":   # small groups run in one call: rows are not handed to threads
        stages.append(("rows", lambda v: [dataclasses.replace(v, chunk=c) for c in CHUNKS]))
    return stages


def _workload(job: Job, cls: str) -> Workload:
    columns = len(job.fills)
    total = STREAM_BYTES if cls == "stream" else CACHE_BYTES
    n = max(4096, total // (columns * job.itemsize) // 4096 * 4096)
    return Workload(job.kind, n, job.itemsize, list(job.fills), list(job.scalars))


def _search(job: Job, cls: str, runners: dict[int, Runner], log) -> tuple[Variant, list]:
    """Coordinate descent over the stages for one class -> (winner, per-stage report)."""
    work = _workload(job, cls)
    own: dict[Variant, Workload] = {}   # cache class: arrays of each candidate's own
    min_rounds, max_rounds, per_candidate = LIMITS[cls]
    best, report = default_for(job.kind, job.dtype, job.target), []
    for stage, make in _stages(job, cls):
        candidates = list(dict.fromkeys(make(best)))
        if best not in candidates:
            candidates.insert(0, best)
        if len(candidates) < 2:
            continue
        runner = runners[max(runners)] if stage == "rows" else runners[1]
        steps = {}
        for v in candidates:
            kernel = job.compile(v)
            # small arrays stay in the caches between steps, so a candidate would
            # inherit the cache state its predecessor left (streaming stores leave
            # none): each small-class candidate runs on arrays of its own
            mine = own.setdefault(v, _workload(job, cls)) if cls == "cache" else work
            steps[v] = runner.step(kernel.address, job.kind, mine.rows(v.chunk))
        times = interleaved(steps, min_rounds, max_rounds, per_candidate * len(candidates),
                            before=work.chill if cls == "cache" else None)
        med = {v: median(ts) for v, ts in times.items()}
        # each candidate against the incumbent timed in the same round: a slow phase
        # of a shared machine slows both and cancels out of the ratio
        paired = {v: median([a / b for a, b in zip(ts, times[best])])
                  for v, ts in times.items()}
        challenger, gain = min(paired, key=paired.get), 1.0
        if paired[challenger] < 1 - MARGIN and med[challenger] < med[best]:
            best, gain = challenger, 1 / paired[challenger]
        report.append({"stage": stage, "threads": runner.threads, "elements": work.n,
                       "rounds": len(times[best]), "choice": best.tag(), "speedup": gain,
                       "candidates": [{"variant": v.tag(), "ns_per_element": m / work.n * 1e9}
                                      for v, m in med.items()]})
        if log:
            log(cls, report[-1])
    return best, report


def tune_job(job: Job, log: Callable[[str, dict], None] | None = None) -> Wisdom:
    """Measure ``job``'s candidates on this machine for every size class."""
    start = time.perf_counter()
    runners = {1: Runner(1)}
    cores = usable_cores()
    if cores > 1:
        runners[cores] = Runner(cores)
    try:
        choices, report = {}, {}
        for cls in CLASSES:
            choices[cls], report[cls] = _search(job, cls, runners, log)
    finally:
        for runner in runners.values():
            runner.close()
    count("tuned")
    return Wisdom(choices, time.strftime("%Y-%m-%d %H:%M:%S %z"),
                  round(time.perf_counter() - start, 3), report)
