"""Optimizer step benchmark: ours vs NumPy, torch.optim (foreach, fused, clip +
fused), DeepSpeed CPUAdam and the same-traffic roofline, interleaved in one
process; plus cold compile and warm start.  Writes ``bench/results/optim.json``
and the ``optim`` section of ``bench/RESULTS.md``.

    python -m bench.optim                 # everything (several minutes)
    python -m bench.optim --quick         # LeNet-5 shapes, float32, few rounds (< 60 s)
    python -m bench.optim --shapes gpt2 --dtypes float32 --threads 1 2

Method: for one (optimizer, dtype, threads, shapes) case every contender is
built and warmed up; then in each round every contender runs one step, in a
fresh random order, each step preceded by the same "other work" (a pass over
8 MiB of unrelated memory, as a forward/backward pass would leave the cache)
and, for LeNet-5, by handing it new gradient arrays (``GRAD_SETS``); only the
step is timed.  Times are reported as medians over rounds; a ratio
between two contenders is the median over rounds of their per-round ratio
(both timed in the same round, seconds apart), so that a slow phase of a
shared machine, which slows every contender of a round alike, cancels out.  When the contenders of a case do
not fit the memory budget together they are split into several interleaved
groups, each of which includes ``ours``; ratios use ``ours`` of the same group.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from . import contenders as C
from . import limit, report, startup, variants
from .shapes import MODELS

__all__ = ["Settings", "main", "run_case", "run_all", "plan_groups", "make_grads",
           "paired_ratios"]

#: rounds and seconds per interleaved group, by shape set: (min rounds, max rounds, seconds)
ROUNDS = {"lenet": (100, 600, 6.0), "tiny": (3, 10, 1.0), "big": (15, 100, 12.0),
          "resnet50": (15, 100, 15.0), "gpt2": (15, 100, 45.0)}
#: peers many times slower than ours: timed in groups of their own
SLOW = ("numpy", "torch_foreach")
QUICK_ROUNDS = {"lenet": (20, 100, 0.5), "tiny": (3, 5, 0.2)}
#: gradient sets in rotation, by shape set: each step gets new gradient arrays, as
#: after a backward pass (the big shapes keep one set: their per-step re-pointing is
#: negligible next to the update, and copies would not fit the memory budget)
GRAD_SETS = {"lenet": 3, "tiny": 2}
SCRATCH_BYTES = 8 << 20


@dataclass
class Settings:
    shapes: list[str]
    dtypes: list[str]
    threads: list[int]
    optimizers: list[str]
    quick: bool = False
    memory_gib: float = 10.0
    startup: bool = True
    seed: int = 0
    retune: bool = False
    limit: bool = True
    limit_elements: int = 1 << 25


def make_grads(shape_name: str, dtype: str, seed: int = 0) -> list[np.ndarray]:
    """Gradients for every tensor of a model: N(0, 1e-3), deterministic."""
    rng = np.random.default_rng(seed)
    out = []
    for _, shape in MODELS[shape_name]():
        g = rng.standard_normal(shape, dtype=np.float32)
        g *= 1e-3
        out.append(g.astype(dtype, copy=False))
    return out


def plan_groups(names: list[str], opt: str, n: int, itemsize: int,
                budget_bytes: float) -> list[list[str]]:
    """Split contenders into interleaved groups that fit ``budget_bytes``
    (besides the shared gradients); each group holds ``ours``; ``roofline``
    goes in the first one and a clip pair stays together.  The slow peers
    (:data:`SLOW`) never share a group with the others: a round waits for its
    slowest step, and the close ratios (roofline, torch fused, DeepSpeed,
    clipping) need many rounds."""
    size = {c: C.memory_arrays(opt, c) * n * itemsize for c in names}
    fixed = ("ours", "roofline", "limit", "ours_clip", "torch_clip_fused")
    units = [[c] for c in names if c not in fixed and c not in SLOW]
    clip = [c for c in ("ours_clip", "torch_clip_fused") if c in names]
    if clip:
        units.append(clip)
    groups = [["ours"] + [c for c in ("roofline", "limit") if c in names]]
    slow_groups: list[list[str]] = []
    for unit in units + [[c] for c in names if c in SLOW]:
        pool = slow_groups if unit[0] in SLOW else groups
        need = sum(size[c] for c in unit)
        for g in pool:
            if sum(size[c] for c in g) + need <= budget_bytes:
                g.extend(unit)
                break
        else:
            pool.append(["ours"] + unit)
    return groups + slow_groups


def _time_group(items: list[C.Contender], limits: tuple[int, int, float],
                rng: np.random.Generator) -> dict[str, list[float]]:
    """Interleaved rounds: each round, every contender once, in random order."""
    lo, hi, seconds = limits
    scratch = np.zeros(SCRATCH_BYTES // 8)
    times: dict[str, list[float]] = {c.name: [] for c in items}
    clock = time.perf_counter
    start = clock()
    gc.collect()
    gc.disable()
    try:
        for r in range(hi):
            for i in rng.permutation(len(items)):
                scratch += 1.0                      # the "other work" of a training step
                items[i].prepare()                  # this step's gradients (untimed)
                t0 = clock()
                items[i].step()
                times[items[i].name].append(clock() - t0)
            if r + 1 >= lo and clock() - start > seconds:
                break
    finally:
        gc.enable()
    return times


def paired_ratios(times: dict[str, list[float]]) -> dict[tuple[str, str], list[float]]:
    """(a, b) -> quartiles [q1, median, q3] over rounds of ``a``'s time / ``b``'s time
    in the same round, for every contender ``a`` against ``ours`` and the clip pair."""
    pairs = [(a, "ours") for a in times if a != "ours"]
    if "ours_clip" in times and "torch_clip_fused" in times:
        pairs.append(("torch_clip_fused", "ours_clip"))
    out = {}
    for a, b in pairs:
        rounds = min(len(times[a]), len(times[b]))
        ratio = np.array(times[a][:rounds]) / np.array(times[b][:rounds])
        out[a, b] = [float(q) for q in np.percentile(ratio, [25, 50, 75])]
    return out


def run_case(opt: str, dtype: str, threads: int, shape_name: str, grads: list[np.ndarray],
             settings: Settings, rng: np.random.Generator, mem_limit: dict | None = None) -> dict:
    """One (optimizer, dtype, threads, shapes) case -> medians and ratios."""
    n = sum(g.size for g in grads)
    load_before = os.getloadavg()[0]
    itemsize = np.dtype(dtype).itemsize
    if C.has_torch():
        import torch
        torch.set_num_threads(threads)
    names = C.available(opt, dtype) + (["limit"] if mem_limit else [])
    budget = settings.memory_gib * 2**30 - n * itemsize
    groups = plan_groups(names, opt, n, itemsize, budget)
    norm = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads))
    sets = [grads] + [[g.copy() for g in grads] for _ in range(GRAD_SETS.get(shape_name, 1) - 1)]
    max_norm = 0.5 * norm                    # so that clipping really scales
    table = QUICK_ROUNDS if settings.quick else ROUNDS
    limits = table.get(shape_name, ROUNDS.get(shape_name, (5, 20, 5.0)))
    medians: dict[str, float] = {}
    minima: dict[str, float] = {}
    group_of: dict[str, int] = {}
    paired: dict[tuple[str, str], list[float]] = {}    # (a, b) -> [q1, median, q3] of a/b
    ours_by_group: list[float] = []
    rounds: list[int] = []
    errors: dict[str, str] = {}
    for gi, group in enumerate(groups):
        items = []
        for name in group:
            try:
                items.append(C.build(name, opt, sets, threads, max_norm, mem_limit))
            except Exception as exc:  # a peer that fails must not stop the bench
                if name == "ours":
                    raise
                errors[name] = f"{type(exc).__name__}: {exc}"
        times = _time_group(items, limits, rng)
        del items
        paired.update(paired_ratios(times))
        if "limit" in times:   # our bandwidth over the limit kernel's, round by round
            moved = limit.moved_bytes(mem_limit, C.traffic(opt, n, itemsize), n, itemsize)
            share = (C.traffic(opt, n, itemsize) * np.array(times["limit"])
                     / (moved * np.array(times["ours"][:len(times["limit"])])))
            limit_share = [float(q) for q in np.percentile(share, [25, 50, 75])]
            limit_gbps = moved / float(np.median(times["limit"])) / 1e9
        gc.collect()
        ours_by_group.append(float(np.median(times["ours"])))
        rounds.append(len(times["ours"]))
        for name, ts in times.items():
            if name != "ours" or gi == 0:
                minima[name] = float(np.min(ts))
            if name != "ours":
                medians[name] = float(np.median(ts))
                group_of[name] = gi
    medians["ours"] = ours_by_group[0]
    speedup = {name: paired[name, "ours"][1] for name in medians
               if name not in ("ours", "roofline", "limit", "ours_clip", "torch_clip_fused")}
    result = {
        "optimizer": opt, "dtype": dtype, "threads": threads, "shapes": shape_name,
        "tensors": len(grads), "numel": n, "groups": groups, "rounds": rounds,
        "grad_sets": len(sets),
        "median_s": medians, "min_s": minima, "ours_median_by_group_s": ours_by_group,
        "speedup_vs": speedup, "errors": errors,
        "paired_ratio_quartiles": {f"{a}/{b}": q for (a, b), q in paired.items()},
        "loadavg_1min": [load_before, os.getloadavg()[0]],
    }
    if "roofline" in medians:
        result["roofline_fraction"] = paired["roofline", "ours"][1]
    if "ours_clip" in medians and "torch_clip_fused" in medians:
        result["clip_speedup"] = paired["torch_clip_fused", "ours_clip"][1]
    torch_peers = [v for k, v in speedup.items() if k in ("torch_foreach", "torch_fused")]
    if torch_peers:
        result["speedup_vs_torch_fastest"] = min(torch_peers)
    traffic = C.traffic(opt, n, itemsize)
    result["traffic_bytes"] = traffic
    result["gbps"] = {k: traffic / medians[k] / 1e9 for k in ("ours", "roofline") if k in medians}
    if mem_limit:
        fraction = limit_share
        footprint = C.memory_arrays(opt, "ours") * n * itemsize
        result["limit"] = {"gbps": limit_gbps, "kernel": mem_limit["kernel"],
                           "gbps_alone": mem_limit["gbps"], "fraction": fraction[1],
                           "quartiles": [fraction[0], fraction[2]],
                           "bound": limit.bound(fraction[1], footprint)}
    return result


def run_all(settings: Settings, log=print, command: str = "") -> dict:
    """Every case of ``settings`` (and startup timings) -> the results dict."""
    rng = np.random.default_rng(settings.seed)
    code = report.git_state()   # the code that runs, before anything else changes
    # every kernel is tuned (or read from wisdom) before anything is timed
    chosen = variants.prepare(settings.optimizers, settings.dtypes, settings.retune, log)
    limits = {}
    if settings.limit:
        for opt in settings.optimizers:
            for dtype in settings.dtypes:
                for threads in settings.threads:
                    if C.has_torch():
                        import torch
                        torch.set_num_threads(threads)
                    found = limit.measure_limit(opt, dtype, threads, _time_group, rng,
                                                elements=settings.limit_elements,
                                                seconds=2.0 if settings.quick else 8.0)
                    limits[opt, dtype, threads] = found
                    log(f"limit {opt} {dtype} t{threads}: {found['gbps']:.1f} GB/s "
                        f"({found['kernel']})")
    cases = []
    for shape_name in settings.shapes:
        for dtype in settings.dtypes:
            grads = make_grads(shape_name, dtype, settings.seed)
            for opt in settings.optimizers:
                for threads in settings.threads:
                    t0 = time.perf_counter()
                    case = run_case(opt, dtype, threads, shape_name, grads, settings, rng,
                                    limits.get((opt, dtype, threads)))
                    cases.append(case)
                    log(report.case_line(case) + f"  [{time.perf_counter() - t0:.1f} s]")
            del grads
            gc.collect()
    out = {"command": command, "git": code,
           "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": report.machine_info(),
           "settings": settings.__dict__, "cases": cases, "variants": chosen,
           "limits": [{"optimizer": o, "dtype": d, "threads": t, **v}
                      for (o, d, t), v in limits.items()],
           "peers": {"torch": C.torch_version(), "deepspeed": C.deepspeed_version()}}
    if settings.startup:
        out["startup"] = startup.measure(quick=settings.quick)
        log(f"startup: {out['startup']}")
    out["targets"] = report.evaluate_targets(out)
    return out


def parse_args(argv: list[str] | None = None) -> tuple[Settings, argparse.Namespace]:
    ap = argparse.ArgumentParser(prog="python -m bench.optim", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="LeNet-5 shapes, float32, few rounds")
    ap.add_argument("--shapes", nargs="+", choices=sorted(MODELS), default=None)
    ap.add_argument("--dtypes", nargs="+", choices=["float32", "float64"], default=None)
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--optimizers", nargs="+", choices=list(C.OPTIMIZERS), default=list(C.OPTIMIZERS))
    ap.add_argument("--memory-gib", type=float, default=10.0,
                    help="budget for the contenders of one interleaved group (default 10)")
    ap.add_argument("--no-startup", action="store_true", help="skip cold compile / warm start")
    ap.add_argument("--json", default="bench/results/optim.json")
    ap.add_argument("--results-md", default="bench/RESULTS.md")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--retune", action="store_true",
                    help="measure kernel variants again even when wisdom exists")
    ap.add_argument("--no-limit", action="store_true",
                    help="skip measuring the machine's memory limit")
    args = ap.parse_args(argv)
    quick = args.quick
    settings = Settings(
        shapes=args.shapes or (["lenet"] if quick else ["lenet", "gpt2", "resnet50", "big"]),
        dtypes=args.dtypes or (["float32"] if quick else ["float32", "float64"]),
        threads=args.threads, optimizers=args.optimizers, quick=quick,
        memory_gib=args.memory_gib, startup=not args.no_startup, retune=args.retune,
        limit=not args.no_limit, limit_elements=1 << (22 if quick else 25))
    return settings, args


def main(argv: list[str] | None = None) -> int:
    settings, args = parse_args(argv)
    shown = " ".join(sys.argv[1:] if argv is None else argv)
    results = run_all(settings, command=f"python -m bench.optim {shown}".strip())
    markdown = report.markdown(results)
    print(markdown)
    if not args.no_write:
        report.write(results, markdown, args.json, args.results_md)
        print(f"wrote {args.json} and {args.results_md}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
