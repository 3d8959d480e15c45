"""``odyssey-codegen tune``: measure kernel variants on this machine, print every
candidate's time and the choice, and keep the winners as wisdom."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

from ..ir import DTYPES
from ..spec import SpecError
from ..target import TargetError, default_target, vector_bits
from . import Job, tune
from .wisdom import CLASSES, usable_cores

__all__ = ["add_tune_command", "print_wisdom"]


def print_wisdom(title: str, job: Job, result, measured: bool) -> None:
    """Every stage's candidates (ns per element, ``*`` = kept) and the choices."""
    source = (f"measured in {result.seconds:.2f} s" if measured else
              f"wisdom of {result.date} (--force measures again)")
    print(f"{title}: {source}")
    for cls in CLASSES:
        for stage in result.report.get(cls, []):
            print(f"  {cls:6s} {stage['stage']:8s} {stage['threads']} thread(s), "
                  f"{stage['elements']:,} elements, {stage['rounds']} rounds")
            for cand in stage["candidates"]:
                mark = "*" if cand["variant"] == stage["choice"] else " "
                print(f"    {mark} {cand['variant']:36s} {cand['ns_per_element']:8.4f} ns/element")
        print(f"  -> {cls}: {result.choices[cls].describe(job.itemsize)}")


def cmd_tune(args: argparse.Namespace, resolve: Callable[[str], Path],
             standard: Callable[[], list[Path]]) -> int:
    from ..api import SpecProgram, load_spec_file, sumsq_job, tune_job_for
    target = default_target()
    if not target.is_host():
        raise TargetError(f"ODYSSEY_TARGET_CPU={target.cpu}: the tuner times only the machine "
                          "it runs on; unset it to tune")
    paths = [resolve(s) for s in args.specs] if args.specs else standard()
    specs = [load_spec_file(path) for path in paths]
    settings = dict(item.partition("=")[::2] for item in args.flag)
    for name in settings:        # a flag applies to the specs that have it
        if not any(name in spec.flag_names for spec in specs):
            raise SpecError(specs[0].path, None, "unknown flag", name,
                            ", ".join(sorted({f for spec in specs for f in spec.flag_names})))
    jobs: list[tuple[str, Job]] = []
    for spec in specs:
        values = {h.name: h.default for h in spec.hypers}
        flags = SpecProgram(spec).flags(values)
        flags.update({name: value.lower() in ("1", "true", "yes", "")
                      for name, value in settings.items() if name in flags})
        shown = " ".join(f"{k}={int(v)}" for k, v in flags.items())
        for dtype in args.dtype:
            for clip in (False, True) if args.clip else (False,):
                jobs.append((f"{spec.name} {dtype} ({shown}{' clip' if clip else ''})",
                             tune_job_for(spec, flags, dtype, clip, target)))
    if args.norm or not args.specs:
        jobs += [(f"norm pass (sum of squares) {dtype}", sumsq_job(dtype, target))
                 for dtype in args.dtype]
    widest = vector_bits(target.cpu, target.features)[1]
    print(f"target: {target.cpu}, {usable_cores()} usable core(s), {target.vector_bits}-bit "
          f"vectors by default, {widest}-bit widest; ODYSSEY_TUNE=0 runs the default shapes")
    start, measured_now = time.perf_counter(), 0
    for title, job in jobs:
        result, measured = tune(job, force=args.force)
        measured_now += measured
        print_wisdom(title, job, result, measured)
    print(f"{measured_now} kernel(s) measured, {len(jobs) - measured_now} from wisdom, "
          f"{time.perf_counter() - start:.1f} s")
    return 0


def add_tune_command(sub: "argparse._SubParsersAction", resolve: Callable[[str], Path],
                     standard: Callable[[], list[Path]]) -> argparse.ArgumentParser:
    """Add ``tune`` to ``odyssey-codegen`` (``resolve``: a spec argument -> path)."""
    t = sub.add_parser("tune", help="measure kernel variants on this machine, keep the fastest")
    t.add_argument("specs", nargs="*", help="spec files or standard names (default: every "
                   "standard spec and the norm pass)")
    t.add_argument("--dtype", nargs="+", choices=DTYPES, default=["float32"])
    t.add_argument("--flag", action="append", default=[], metavar="NAME=VALUE",
                   help="a flag of the variant to tune, for the specs that have it "
                   "(default: the spec's defaults)")
    t.add_argument("--clip", action="store_true", help="also the max_grad_norm variants")
    t.add_argument("--norm", action="store_true", help="also the norm pass (with SPECs)")
    t.add_argument("--force", action="store_true", help="measure again even with wisdom")
    t.set_defaults(func=lambda args: cmd_tune(args, resolve, standard))
    return t
