"""Torch interop benchmark: real torch training steps with our optimizer
(``odyssey_training.interop.torch``) against torch.optim's fused, default
(for-loop) and foreach implementations, interleaved in one process.  Writes
``bench/results/torch_interop.json`` and the ``torch`` section of
``bench/RESULTS.md``.

    python -m bench.torch_interop                       # everything (~15 min, ~8 GiB)
    python -m bench.torch_interop --quick               # LeNet-5 only, few rounds
    python -m bench.torch_interop --cases lenet lenet_e2e --threads 1

Method (bench/README.md): for one (case, optimizer, threads) every contender is
built and warmed up; each round runs every contender's step once, in a fresh
random order, after its untimed ``prepare`` (bench/torch_steps.py says what each
case times and prepares).  Times are medians over rounds; a ratio is the median
over rounds of the per-round ratio (peer time / our time: > 1 means ours is
faster), so a slow phase of the shared machine cancels out.  The slow peers
(for-loop, foreach) on GPT-2 run in a group of their own with ours again.  torch
shares the process, so ``OMP_WAIT_POLICY=PASSIVE`` is set before torch is
imported unless the environment sets it (recorded with the results): torch's
spinning OpenMP workers would otherwise take the cores from whoever steps next.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")      # before torch starts its threads

import argparse  # noqa: E402
import gc  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from . import report, variants  # noqa: E402
from . import torch_steps as S  # noqa: E402
from .optim import _time_group, paired_ratios  # noqa: E402
from .shapes import MODELS  # noqa: E402

BEGIN, END = "<!-- torch:begin -->", "<!-- torch:end -->"
#: (min rounds, max rounds, seconds) per interleaved group
ROUNDS = {"gpt2": (15, 60, 40.0), "lenet": (100, 1500, 8.0), "lenet_sched": (100, 1500, 8.0),
          "lenet_groups": (100, 1500, 8.0), "lenet_e2e": (60, 600, 8.0)}
QUICK = {"gpt2": (3, 5, 5.0), "lenet": (20, 200, 1.0), "lenet_sched": (20, 200, 1.0),
         "lenet_groups": (20, 200, 1.0), "lenet_e2e": (20, 100, 1.0)}
TITLES = {"gpt2": "GPT-2 small: the optimizer step alone (148 tensors, 124,439,808 values)",
          "lenet": "LeNet-5: the optimizer step alone, after a real backward (10 tensors, "
                   "61,706 values)",
          "lenet_sched": "LeNet-5: the optimizer step alone, after a real backward, with the lr "
                         "moved before every step by torch's CosineAnnealingLR (untimed)",
          "lenet_groups": "LeNet-5: the optimizer step alone, after a real backward, with the "
                          "parameters in two groups (weight decay on the weights, none on the "
                          "biases)",
          "lenet_e2e": f"LeNet-5: the whole training step on the digits (batch {S.BATCH}, "
                       "1x32x32; zero_grad, forward, loss, backward, step)"}
TARGETS = {("gpt2", "adamw"): 1.1, ("lenet", None): 3.0}
SLOW = ("torch_forloop", "torch_foreach")


def _inputs(kind: str, seed: int) -> dict:
    import torch
    if kind == "gpt2":
        gen = torch.Generator().manual_seed(seed)
        return {"grads": [torch.randn(shape, generator=gen) * 1e-3
                          for _, shape in MODELS["gpt2"]()]}
    from odyssey_training.job.lenet import LeNet5
    torch.manual_seed(seed)
    return {"module": LeNet5(), "batches": S.digits_batches(seed)}


def run_case(kind: str, name: str, threads: int, inputs: dict, limits: tuple,
             rng: np.random.Generator) -> dict:
    import torch
    torch.set_num_threads(threads)
    load_before = os.getloadavg()[0]
    groups = ([["ours", "torch_fused", "roofline"], ["ours", *SLOW]] if kind == "gpt2"
              else [[*S.CONTENDERS, "roofline"]] if kind == "lenet" else [list(S.CONTENDERS)])
    medians, paired, rounds = {}, {}, []
    for gi, group in enumerate(groups):
        items = [S.build(kind, c, name, threads, **inputs) for c in group]
        times = _time_group(items, limits, rng)
        del items
        gc.collect()
        paired.update(paired_ratios(times))
        rounds.append(len(times["ours"]))
        for c, ts in times.items():
            if c != "ours" or gi == 0:
                medians[c] = float(np.median(ts))
    return {"case": kind, "optimizer": name, "threads": threads, "groups": groups,
            "rounds": rounds, "median_s": medians,
            "speedup_vs": {a: q[1] for (a, _), q in paired.items()},
            "paired_ratio_quartiles": {f"{a}/{b}": q for (a, b), q in paired.items()},
            "loadavg_1min": [load_before, os.getloadavg()[0]]}


def _targets(cases: list[dict]) -> list[dict]:
    out = []
    for c in cases:
        threshold = TARGETS.get((c["case"], c["optimizer"]), TARGETS.get((c["case"], None)))
        if threshold is None:
            continue
        q = c["paired_ratio_quartiles"]["torch_fused/ours"]
        out.append({"target": f"{c['optimizer']} {c['case']} step, {c['threads']} thread(s): "
                              f">= {threshold}x torch fused", "measured": q[1],
                    "quartiles": [q[0], q[2]], "threshold": threshold,
                    "status": "PASS" if q[1] >= threshold else "MISS"})
    return out


def _machine() -> dict:
    info = report.machine_info()
    flags = next((line.split(":", 1)[1].split() for line in
                  Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), [])
    info["isa_flags"] = [f for f in flags if f.startswith(("avx512", "amx", "avx_vnni"))]
    return info


def _generation(flags: list[str]) -> str:
    """What the ISA flags say about a CPU that reports no model name (a VM)."""
    if {"amx_tile", "avx512_fp16"} <= set(flags):
        return "; AMX and AVX512-FP16: Intel Sapphire Rapids or newer"
    return ""


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [BEGIN, "## Torch interop: real torch training steps (`bench/torch_interop.py`)",
             "", f"- command: `{results['command']}`", f"- date: {results['date']}",
             f"- code: {results.get('git') or 'unknown'}",
             f"- machine: `{m['cpu_model']}` (`grep -m1 'model name' /proc/cpuinfo`"
             f"{_generation(m['isa_flags'])}), {m['cores']} usable cores, "
             f"{m['memory_bytes'] / 2**30:.0f} GiB; LLVM CPU `{m['llvm_cpu']}`, "
             f"SIMD {m['simd_bits']}-bit; flags: {' '.join(m['isa_flags']) or 'none'}",
             f"- torch {results['torch']}, `OMP_WAIT_POLICY={results['omp_wait_policy']}`, "
             "`torch.set_num_threads(thr)` and `num_threads=thr` for ours",
             "- 1-minute load average before/after each case: "
             + ", ".join(f"{c['case']} {c['optimizer']} t{c['threads']}: "
                         f"{c['loadavg_1min'][0]:.1f}/{c['loadavg_1min'][1]:.1f}"
                         for c in results["cases"]), "",
             "Times: medians over interleaved rounds. `(x)` = the median over rounds of the "
             "per-round ratio peer time / our time (> 1: ours faster); the targets give the "
             "interquartile range in brackets. The roofline column (the optimizer steps) is our runtime "
             "with the same-traffic kernel (bench/README.md): the step's memory traffic "
             "alone, through the same interop.", "", "### Targets", "",
             "| target | measured | status |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['measured']:.2f}x [{t['quartiles'][0]:.2f}x–"
              f"{t['quartiles'][1]:.2f}x] | {t['status']} |" for t in results["targets"]]
    for kind in dict.fromkeys(c["case"] for c in results["cases"]):
        unit, scale = ("ms", 1e3) if kind == "gpt2" else ("µs", 1e6)
        peers = ["torch_fused", "torch_forloop", "torch_foreach"]
        roof = any("roofline" in c["median_s"] for c in results["cases"] if c["case"] == kind)
        lines += ["", f"### {TITLES[kind]}", "",
                  f"| optimizer | thr | ours {unit} | torch fused {unit} (x) | torch for-loop "
                  f"(default) {unit} (x) | torch foreach {unit} (x) |"
                  + (f" same-traffic roofline {unit} (roofline / ours) |" if roof else "")
                  + " rounds |", "|---|---|---|---|---|---|" + ("---|" if roof else "") + "---|"]
        for c in (c for c in results["cases"] if c["case"] == kind):
            med, sp = c["median_s"], c["speedup_vs"]
            cells = [f"{med[k] * scale:.1f} ({sp[k]:.2f}x)" if k in med else "—"
                     for k in peers + (["roofline"] if roof else [])]
            lines.append(f"| {c['optimizer']} | {c['threads']} | {med['ours'] * scale:.1f} | "
                         + " | ".join(cells) + f" | {'/'.join(map(str, c['rounds']))} |")
    return "\n".join(lines + ["", END])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.torch_interop",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="LeNet-5 cases, few rounds")
    ap.add_argument("--cases", nargs="+", choices=list(TITLES), default=None)
    ap.add_argument("--optimizers", nargs="+", choices=list(S.OPTIMIZERS), default=None)
    ap.add_argument("--gpt2-optimizers", nargs="+", choices=list(S.OPTIMIZERS),
                    default=["adamw"], help="optimizers of the GPT-2 case (default adamw)")
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--json", default="bench/results/torch_interop.json")
    ap.add_argument("--results-md", default="bench/RESULTS.md")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    import torch
    kinds = args.cases or (["lenet", "lenet_sched", "lenet_groups", "lenet_e2e"] if args.quick
                           else list(TITLES))
    limits = QUICK if args.quick else ROUNDS
    rng = np.random.default_rng(0)
    code = report.git_state()
    names = {kind: args.optimizers or (args.gpt2_optimizers if kind == "gpt2"
                                       else list(S.OPTIMIZERS)) for kind in kinds}
    # every kernel is tuned (or read from wisdom) before anything is timed
    variants.prepare(sorted({n for ns in names.values() for n in ns}), ["float32"],
                     log=lambda text: print(text, file=sys.stderr))
    cases = []
    for kind in kinds:
        inputs = _inputs(kind, seed=0)
        for name in names[kind]:
            for threads in args.threads:
                t0 = time.perf_counter()
                case = run_case(kind, name, threads, inputs, limits[kind], rng)
                cases.append(case)
                print(f"{kind:9s} {name:12s} t{threads}  ours {case['median_s']['ours'] * 1e6:.1f} us  "
                      + "  ".join(f"{k} x{v:.2f}" for k, v in case["speedup_vs"].items())
                      + f"  [{time.perf_counter() - t0:.0f} s]", file=sys.stderr)
        del inputs
        gc.collect()
    shown = " ".join(sys.argv[1:] if argv is None else argv)
    results = {"command": f"python -m bench.torch_interop {shown}".strip(), "git": code,
               "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": _machine(),
               "torch": torch.__version__,
               "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "cases": cases}
    results["targets"] = _targets(cases)
    block = markdown(results)
    print(block)
    if not args.no_write:
        report.write_results(results, args.json, block, args.results_md, BEGIN, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
