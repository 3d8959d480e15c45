"""Results -> JSON and this machine's section of ``bench/RESULTS.md``.

``RESULTS.md`` keeps one section per kind of machine, between
``<!-- optim:begin KEY -->`` and ``<!-- optim:end KEY -->`` (KEY: LLVM's CPU name
and vector ISA, :func:`bench.machine.machine_key`); a run replaces its own
machine's section and keeps everything else."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .machine import git_state, machine_info, machine_key, machine_kind
from .shapes import MODELS, numel
from .targets import evaluate_targets, fmt_target

__all__ = ["machine_info", "git_state", "case_line", "evaluate_targets", "markdown", "write",
           "markers"]

TITLES = {"lenet": "LeNet-5", "gpt2": "GPT-2 small", "resnet50": "ResNet-50",
          "big": "one 10M tensor", "tiny": "tiny (tests)"}
PEERS = [("numpy", "NumPy"), ("torch_foreach", "torch foreach"), ("torch_fused", "torch fused"),
         ("deepspeed", "DeepSpeed CPUAdam")]


def markers(key: str) -> tuple[str, str]:
    return f"<!-- optim:begin {key} -->", f"<!-- optim:end {key} -->"


def _time(seconds: float, unit: str) -> str:
    return f"{seconds * 1e6:.1f}" if unit == "us" else f"{seconds * 1e3:.2f}"


def case_line(case: dict) -> str:
    unit = _unit(case["shapes"])
    parts = [f"{case['shapes']:8s} {case['optimizer']:12s} {case['dtype']} t{case['threads']}",
             f"ours {_time(case['median_s']['ours'], unit)} {unit}"]
    if "roofline_fraction" in case:
        parts.append(f"roofline {case['roofline_fraction']:.0%}")
    parts += [f"{k} x{v:.2f}" for k, v in case["speedup_vs"].items()]
    if "clip_speedup" in case:
        parts.append(f"clip x{case['clip_speedup']:.2f}")
    if "limit" in case:
        parts.append(f"{case['limit']['fraction']:.0%} of limit ({case['limit']['bound']})")
    return "  ".join(parts)


def _unit(shapes: str) -> str:
    return "us" if shapes in ("lenet", "tiny") else "ms"


# ---- markdown --------------------------------------------------------------------
def _cell(case: dict, key: str, unit: str) -> str:
    if key not in case["median_s"]:
        return "—"
    speed = case["speedup_vs"].get(key)
    return f"{_time(case['median_s'][key], unit)} ({speed:.2f}x)"


def _table(cases: list[dict], shapes: str) -> list[str]:
    unit = _unit(shapes)
    n, k = numel(MODELS[shapes]()), len(MODELS[shapes]())
    peers = [(key, label) for key, label in PEERS if any(key in c["median_s"] for c in cases)]
    clip = any("ours_clip" in c["median_s"] for c in cases)
    head = ["optimizer", "dtype", "thr", f"ours {unit}", "ours GB/s (of limit)", "roofline"]
    head += [f"{label} {unit} (x)" for _, label in peers]
    if clip:
        head += [f"ours clip {unit}", f"torch clip+fused {unit} (x)"]
    lines = [f"### {TITLES.get(shapes, shapes)}: {k} tensors, {n:,} values", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cases:
        m = c["median_s"]
        roof = (f"{_time(m['roofline'], unit)} ({c['roofline_fraction']:.0%}, "
                f"{c['gbps']['roofline']:.1f} GB/s)" if "roofline" in m else "—")
        lim = c.get("limit")
        speed = (f"{c['gbps']['ours']:.1f} ({lim['fraction']:.0%}, {lim['bound']})" if lim
                 else f"{c['gbps']['ours']:.1f}")
        row = [c["optimizer"], c["dtype"], str(c["threads"]), _time(m["ours"], unit), speed, roof]
        row += [_cell(c, key, unit) for key, _ in peers]
        if clip:
            if "ours_clip" in m and "torch_clip_fused" in m:
                row += [_time(m["ours_clip"], unit),
                        f"{_time(m['torch_clip_fused'], unit)} ({c['clip_speedup']:.2f}x)"]
            else:
                row += ["—", "—"]
        lines.append("| " + " | ".join(row) + " |")
    notes = sorted({f"{c['optimizer']} {c['dtype']} t{c['threads']}: {k}: {v}"
                    for c in cases for k, v in c.get("errors", {}).items()})
    split = sorted({f"{c['optimizer']} {c['dtype']} t{c['threads']}" for c in cases
                    if len(c["groups"]) > 1})
    if split:
        lines += ["", "Split into several interleaved groups to fit the memory budget "
                  "(ratios are within a group): " + ", ".join(split) + "."]
    if notes:
        lines += ["", "Errors: " + "; ".join(notes)]
    return lines + [""]


def _torch_thread_note(results: dict) -> list[str]:
    """Flag cases where torch got slower with more threads (starved OpenMP workers)."""
    by_key: dict[tuple, dict[int, float]] = {}
    for c in results["cases"]:
        if "torch_fused" in c["median_s"]:
            key = (c["optimizer"], c["dtype"], c["shapes"])
            by_key.setdefault(key, {})[c["threads"]] = c["median_s"]["torch_fused"]
    bad = [f"{o} {d} {s} ({v[max(v)] / v[min(v)]:.1f}x)" for (o, d, s), v in by_key.items()
           if len(v) > 1 and v[max(v)] > 1.5 * v[min(v)]]
    if not bad:
        return []
    passive = results["machine"].get("omp_wait_policy", "") == "PASSIVE"
    why = ("With OMP_WAIT_POLICY=PASSIVE its OpenMP workers sleep between ops and a small "
           "step pays for waking them; under load they are also starved by other processes"
           if passive else "Its OpenMP workers were starved by other processes")
    return [f"**torch with {max(c['threads'] for c in results['cases'])} threads was slower "
            f"than with 1** (fused step time ratio) in: {', '.join(bad)}. {why}, so those "
            "multi-threaded ratios against torch overstate our lead and their PASSes should "
            "not be trusted.", ""]


def _load_note(results: dict) -> list[str]:
    """A warning when other processes competed for the cores during the run."""
    loads = [x for c in results["cases"] for x in c.get("loadavg_1min", [])]
    cores = results["machine"]["cores"] or 1
    ours = max((c["threads"] for c in results["cases"]), default=1)
    if not loads or max(loads) < ours + 1:
        return []
    return [f"**Shared machine:** the 1-minute load average reached {max(loads):.1f} on "
            f"{cores} cores during this run (median {float(np.median(loads)):.1f}), so other "
            "processes competed with the contenders; interleaving spreads that over all of "
            "them, but multi-threaded results are the least reliable.", ""]


def _parts(warm: dict) -> str:
    parts = warm.get("parts_median_s")
    if not parts:
        return ""
    return ("; of which " + ", ".join(f"{k.removesuffix('_s').replace('_', ' ')} {v:.3f} s"
                                      for k, v in parts.items()))


def _variants(results: dict) -> list[str]:
    """Which kernel shape ran for each optimizer, and why (the tuner's wisdom)."""
    rows = results.get("variants", {})
    if not rows:
        return []
    lines = ["### Kernel variants on this machine", "",
             "Chosen by `odyssey-codegen tune` (candidates timed on this machine, fastest "
             "median kept as wisdom, before any contender was timed); `large` is the choice "
             "for groups beyond the caches (GPT-2, ResNet-50), `small` for groups that fit "
             "them (LeNet-5). The default shape (`ODYSSEY_TUNE=0`) is LLVM's preferred width "
             f"for the CPU ({results['machine']['simd_bits']}-bit here), one cache line per "
             "iteration, prefetch 512 B, exact division, plain stores, rows of 65536.", "",
             "| kernel | large groups | small groups | why |", "|---|---|---|---|"]
    for name, v in rows.items():
        lines.append(f"| {name} | {v['stream']} | {v['cache']} | {v['why']} |")
    return lines + [""]


def _limits(results: dict) -> list[str]:
    rows = results.get("limits", [])
    if not rows:
        return []
    lines = ["### Measured memory limit", "",
             "Best bandwidth of several streaming kernels with each optimizer's traffic "
             "(same-traffic loops at every width, prefetch none/512 B, plain and non-temporal "
             "stores, unroll 1 and 4, and a STREAM triad; `bench/limit.py`), one group of "
             f"{rows[0]['elements']:,} elements, through the same runtime. A step at >= 90 % of "
             "it is bound by bandwidth, below by arithmetic; a group whose arrays fit the "
             "caches (LeNet-5) runs faster than memory and is marked `caches`.", "",
             "| optimizer | dtype | thr | limit GB/s | fastest kernel |", "|---|---|---|---|---|"]
    lines += [f"| {r['optimizer']} | {r['dtype']} | {r['threads']} | {r['gbps']:.1f} | "
              f"{r['kernel']} |" for r in rows]
    return lines + [""]


def markdown(results: dict) -> str:
    m = results["machine"]
    begin, end = markers(machine_key(m))
    peers = results.get("peers", {})
    lines = [begin, f"## {m['cpu_model']} (LLVM `{m['llvm_cpu']}`, {machine_kind(m)}): "
             "optimizer step benchmark (`bench/optim.py`)", "",
             f"- command: `{results['command']}`", f"- date: {results['date']}",
             f"- code: {results.get('git') or 'unknown'}",
             f"- machine: {m['cpu_model']}, {m['cores']} usable cores, "
             f"{(m['memory_bytes'] or 0) / 2**30:.0f} GiB; LLVM CPU `{m['llvm_cpu']}`; "
             f"features: {', '.join(m.get('features', [])) or 'unknown'}; vectors "
             f"{m['simd_bits']}-bit by default (LLVM's preference), "
             f"{m.get('widest_bits', m['simd_bits'])}-bit widest"
             + (" (ODYSSEY_SIMD_BITS)" if m.get("simd_bits_env") else ""),
             f"- environment: OMP_WAIT_POLICY={m.get('omp_wait_policy') or 'unset'}, "
             f"ODYSSEY_TUNE={m.get('odyssey_tune', '1')}",
             f"- peers: NumPy {m['numpy']}, torch {peers.get('torch') or 'not installed'}, "
             f"DeepSpeed {peers.get('deepspeed') or 'not installed (column skipped)'}", "",
             "Times: medians of interleaved rounds (random order each round, 8 MiB of "
             "unrelated memory touched before every step). Ratios: the median over rounds of "
             "the two contenders' per-round ratio (timed seconds apart, so a slow phase of the "
             "shared machine cancels out). `(x)` = peer time / our time, so > 1 means "
             "ours is faster; roofline `%` = same-traffic kernel (ours' shape) time / our "
             "time; `of limit` = our bandwidth / the measured limit below. The targets "
             "table gives the interquartile range of the per-round ratio in brackets.", "",
             *_load_note(results), *_torch_thread_note(results),
             "### Targets", "", "| target | measured | status | ours vs limit |",
             "|---|---|---|---|"]
    for t in results["targets"]:
        lim = t.get("limit")
        where = f"{lim['fraction']:.0%} ({lim['bound']})" if lim else "—"
        lines.append(f"| {t['target']} | {fmt_target(t)} | {t['status']} | {where} |")
    lines.append("")
    lines += _variants(results) + _limits(results)
    start = results.get("startup")
    if start:
        cold, warm = start["cold"], start["warm"]
        lines += ["### Start-up", "",
                  f"- cold compile, empty cache, {len(cold['kernels'])} float32 kernels "
                  f"({', '.join(cold['kernels'])}; default variants): "
                  f"{cold['compile_s']:.2f} s (median of {len(start['cold_runs_s'])}; "
                  f"import {cold['import_s']:.2f} s, whole process {cold['process_wall_s']:.2f} s)",
                  f"- warm start, full cache, `import odyssey_training` + AdamW over LeNet-5 + "
                  f"first step: {warm['import_and_first_step_s']:.3f} s (median of "
                  f"{warm['repeats']}; whole process incl. interpreter "
                  f"{warm['process_wall_s']:.3f} s); kernels compiled: {warm['compiled']}, "
                  f"loaded: {warm['linked']}" + _parts(warm), ""]
    for shapes in dict.fromkeys(c["shapes"] for c in results["cases"]):
        lines += _table([c for c in results["cases"] if c["shapes"] == shapes], shapes)
    return "\n".join(lines + [end])


def write_section(md_path: str | Path, block: str, begin: str, end: str) -> None:
    """Put ``block`` (which starts with ``begin`` and ends with ``end``) in place of the
    markdown file's section between those markers, or append it: each benchmark owns
    one section of bench/RESULTS.md and leaves the others alone."""
    md_path = Path(md_path)
    old = md_path.read_text(encoding="utf-8") if md_path.exists() else "# Benchmark results\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    md_path.write_text(new, encoding="utf-8")


def write_results(results: dict, json_path: str | Path, block: str, md_path: str | Path,
                  begin: str, end: str) -> None:
    """A benchmark's results: all of them as JSON in ``json_path``, the markdown
    ``block`` as its section of ``md_path`` (:func:`write_section`)."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, default=float) + "\n")
    write_section(md_path, block, begin, end)


def write(results: dict, block: str, json_path: str | Path, md_path: str | Path) -> None:
    """Write the JSON and replace (or add) this machine's section of the markdown."""
    write_results(results, json_path, block, md_path, *markers(machine_key(results["machine"])))
