"""Command-line verbs for metric kernels, ready to be mounted under ``odyssey-codegen``.

``add_metric_commands(subparsers)`` adds ``metrics list``, ``metrics kernels``
(compile every standard metric kernel variant into the cache) and ``metrics
show`` (LLVM IR or assembly of one kernel) to ``odyssey-codegen``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import cache
from .api import origin_counts
from .metric_api import (STATS, compile_metric, load_metric_spec_file, metric_assembly,
                         metric_llvm_ir, standard_metric_specs)
from .metric_spec import MetricSpec
from .spec import SpecError
from .target import Target, default_target, named_target

__all__ = ["add_metric_commands"]


def _resolve(arg: str) -> MetricSpec:
    path = Path(arg)
    if path.suffix == ".toml" or path.exists():
        return load_metric_spec_file(path)
    for candidate in standard_metric_specs():
        if candidate.stem == arg:
            return load_metric_spec_file(candidate)
    names = ", ".join(p.stem for p in standard_metric_specs())
    raise SpecError(arg, None, "no such metric spec file or standard metric spec", arg, names)


def _target(args: argparse.Namespace) -> Target:
    return named_target(args.cpu) if args.cpu else default_target()


def cmd_list(args: argparse.Namespace) -> int:
    for path in standard_metric_specs():
        spec = load_metric_spec_file(path)
        ties = f" ties={spec.ties}" if spec.ties else ""
        print(f"{spec.name:20s} predict={spec.predict:9s} count={spec.count:9s}{ties:12s} "
              f"preds={','.join(spec.preds)} targets={','.join(spec.targets)}")
    return 0


def cmd_kernels(args: argparse.Namespace) -> int:
    """Compile every (spec, preds dtype, targets dtype) kernel, generic and, for
    ``--classes``, specialized for those class counts."""
    target = _target(args)
    specs = [_resolve(s) for s in args.specs] or [load_metric_spec_file(p)
                                                  for p in standard_metric_specs()]
    start, before, count = time.perf_counter(), dict(STATS), 0
    for spec in specs:
        for classes in [0] + (args.classes if spec.preds_rank == 2 else []):
            for preds in spec.preds:
                for targets in spec.targets:
                    compile_metric(spec, preds, targets, classes=classes, target=target)
                    count += 1
    print(f"{count} metric kernels for {target.cpu}: {origin_counts(before, count)}, "
          f"{time.perf_counter() - start:.2f} s; cache: {cache.cache_dir()}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    spec, target = _resolve(args.spec), _target(args)
    preds = args.preds or spec.preds[0]
    if args.asm:
        print(metric_assembly(spec, preds, args.targets, classes=args.classes, target=target))
    else:
        print(metric_llvm_ir(spec, preds, args.targets, classes=args.classes, target=target,
                             optimized=not args.raw))
    return 0


def add_metric_commands(sub: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """Add the ``metrics`` verb (with its own sub-verbs) to ``sub``."""
    m = sub.add_parser("metrics", help="metric kernels (specs/metrics/*.toml)")
    verbs = m.add_subparsers(dest="metric_command", required=True)
    verbs.add_parser("list", help="list the standard metric specs").set_defaults(func=cmd_list)
    k = verbs.add_parser("kernels", help="compile every metric kernel into the cache")
    k.add_argument("specs", nargs="*", help="spec files or standard names (default: all)")
    k.add_argument("--classes", type=int, nargs="*", default=[],
                   help="also compile kernels specialized for these class counts")
    k.add_argument("--cpu", help="LLVM CPU name (default: host)")
    k.set_defaults(func=cmd_kernels)
    s = verbs.add_parser("show", help="print a metric kernel's LLVM IR or assembly")
    s.add_argument("spec", help="a spec file or a standard name (argmax_confusion)")
    s.add_argument("--preds", help="preds dtype (default: the spec's first)")
    s.add_argument("--targets", default="int64", choices=("int32", "int64"))
    s.add_argument("--classes", type=int, default=0, help="specialize for this class count")
    s.add_argument("--asm", action="store_true", help="machine code instead of LLVM IR")
    s.add_argument("--raw", action="store_true", help="LLVM IR before optimization")
    s.add_argument("--cpu", help="LLVM CPU name (default: host)")
    s.set_defaults(func=cmd_show)
    return m
