"""Tune every kernel a benchmark runs before anything is timed, and say which
shape each one runs and why (``odyssey-codegen tune``'s wisdom, or the default
shapes with ``ODYSSEY_TUNE=0``).  Tuning inside the timed rounds would time the
tuner; here it happens once, up front, and a run with wisdom already in the
cache measures nothing new."""

from __future__ import annotations

import numpy as np

from odyssey_codegen.api import SpecProgram, sumsq_job, tune_job_for
from odyssey_codegen.tune import tune, tune_mode
from odyssey_training import optimizers as ours_mod

from . import contenders as C
from .roofline import roofline_spec

__all__ = ["prepare"]


def _speedup(report: list[dict]) -> str:
    """The choice against the default shape: the product of each one-thread stage's
    paired speed-up (each measured against its incumbent in the same rounds)."""
    gain = 1.0
    for stage in report:
        if stage["threads"] == 1:
            gain *= stage.get("speedup", 1.0)
    return f"{gain:.2f}x the default shape"


def prepare(opts: list[str], dtypes: list[str], force: bool = False, log=print) -> dict:
    """{kernel: {"stream": shape, "cache": shape, "why": text}} after tuning."""
    if not tune_mode():
        return {}
    jobs = []
    for opt in opts:
        cls_name, kwargs = C.OPTIMIZERS[opt]
        spec = getattr(ours_mod, cls_name).spec
        flags = SpecProgram(spec).flags({h.name: h.default for h in spec.hypers} | kwargs)
        for dtype in dtypes:
            jobs.append((f"{opt} {dtype}", tune_job_for(spec, flags, dtype)))
            jobs.append((f"{opt} {dtype} same-traffic roofline",
                         tune_job_for(roofline_spec(spec), flags, dtype)))
            if opt == "adamw":
                jobs.append((f"adamw {dtype} max_grad_norm", tune_job_for(spec, flags, dtype,
                                                                          True)))
    if "adamw" in opts:
        jobs += [(f"norm pass {dtype}", sumsq_job(dtype)) for dtype in dtypes]
    rows = {}
    for name, job in jobs:
        result, measured = tune(job, force=force)
        item = np.dtype(job.dtype).itemsize
        stream = result.report["stream"]
        why = (f"measured {result.date[:16]} in {result.seconds:.1f} s; "
               f"large groups: {_speedup(stream)} at 1 thread")
        rows[name] = {"stream": result.choices["stream"].describe(item),
                      "cache": result.choices["cache"].describe(item), "why": why,
                      "measured_now": measured, "stream_tag": result.choices["stream"].tag()}
        log(f"tuned {name}: {rows[name]['stream']} ({why})")
    return rows
