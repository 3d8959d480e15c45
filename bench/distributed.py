"""Data-parallel training over MPI: ``python -m bench.distributed [--quick]``.

Three measurements (each under ``mpiexec`` from the venv, ``bench/distributed_worker.py``):

1. **Allreduce vs bytes** (2 ranks): the time and bus bandwidth of our bucketed
   gradient allreduce against a plain ``mpi4py`` ``Allreduce`` of the same bytes, for
   one tensor and for 64 tensors (32 large, 32 bias-sized), and with every tensor
   packed (the layout without in-place large tensors), interleaved in random order.
   Bus bandwidth = 2 (N-1)/N x bytes / time (NCCL's convention: what each link
   carries).
2. **Steps per second from 1 to 2 ranks**, same global batch: the default
   ``odyssey-train`` job (digits MLP 64-256-10, batch 32, its callbacks included) and a
   1024-4096-4096-10 MLP (21M parameters, AdamW, global batch 64 and 256), one process with 1
   and with 2 threads (kernels and BLAS) against 2 ranks of 1 thread, plain and
   ZeRO-1.  A step is the time between two training-batch ends within an epoch after
   a warm-up epoch; each run's time is the median over every step of every launch,
   and a speed-up is the median over rounds of the per-round ratio (a round runs one
   model's configurations back to back).
3. **ZeRO-1 memory**: the optimizer state each rank holds and its peak RSS, for the
   21M-parameter MLP with AdamW, plain vs ``zero=True``.

Writes ``bench/results/distributed.json`` and the section of ``bench/RESULTS.md``
between ``<!-- distributed:begin -->`` and ``<!-- distributed:end -->``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

from .report import git_state, machine_info, write_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BEGIN, END = "<!-- distributed:begin -->", "<!-- distributed:end -->"
SIZES = [4 * 4**k * 1024 for k in range(9)]            # 4 KiB .. 256 MiB
#: (label, model, ranks, threads, zero)
CONFIGS = [("1 process, 1 thread", 1, 1, False), ("1 process, 2 threads", 1, 2, False),
           ("2 ranks x 1 thread", 2, 1, False), ("2 ranks x 1 thread, ZeRO-1", 2, 1, True)]
MODELS = [("job", "default job: digits MLP 64-256-10, batch 32"),
          ("mlp20m-64", "MLP 1024-4096-4096-10 (21.0M), AdamW, batch 64"),
          ("mlp20m-256", "MLP 1024-4096-4096-10 (21.0M), AdamW, batch 256")]


def launch(ranks: int, threads: int, *args: str) -> dict:
    mpiexec = Path(sys.executable).parent / "mpiexec"
    env = {**os.environ, **{v: str(threads) for v in (
        "ODYSSEY_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}}
    out = subprocess.run([str(mpiexec), "-n", str(ranks), sys.executable, "-m",
                          "bench.distributed_worker", *args], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=3600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def steps(rounds: int, models: list[str]) -> dict:
    """Per model, ``rounds`` rounds of its runs in a random order, back to back: a
    run's ratio to another is the median over rounds of the two launches' per-round
    ratio (launched within a minute of each other, so a busy phase of the shared
    machine, which slows both, cancels out)."""
    pooled: dict[str, dict] = {}
    for model in models:
        runs = [c for c in CONFIGS if model != "job" or not c[3]]
        for r in range(rounds):
            random.Random(r).shuffle(runs)
            for label, ranks, threads, zero in runs:
                result = launch(ranks, threads, "steps", model, "zero" if zero else "plain",
                                "1", "4" if model == "job" else "3")   # warm-up, epochs
                entry = pooled.setdefault(f"{model}|{label}", {
                    **{k: v for k, v in result.items() if k not in (
                        "step_s", "epoch_s", "phases_rank0")},
                    "step_s": [], "epoch_s": [], "round_step_s": [], "phases": []})
                entry["step_s"] += result["step_s"]
                entry["epoch_s"] += result["epoch_s"]
                entry["round_step_s"].append(statistics.median(result["step_s"]))
                entry["phases"].append(result["phases_rank0"])
                print(f"{model:10s} {label:28s} step "
                      f"{entry['round_step_s'][-1] * 1e3:8.2f} ms", file=sys.stderr)
    for key, entry in pooled.items():
        entry["median_step_s"] = statistics.median(entry["step_s"])
        entry["median_epoch_s"] = statistics.median(entry["epoch_s"])
        entry["median_phases"] = {k: statistics.median(ph[k] for ph in entry["phases"])
                                  for k in entry["phases"][0]}
        model = key.split("|")[0]
        for base in ("1 process, 1 thread", "1 process, 2 threads"):
            ref = pooled[f"{model}|{base}"]["round_step_s"]
            entry[f"speedup vs {base}"] = statistics.median(
                b / t for b, t in zip(ref, entry["round_step_s"]))
    return pooled


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def _size(nbytes: int) -> str:
    return f"{nbytes // 2**20} MiB" if nbytes >= 2**20 else f"{nbytes // 1024} KiB"


def markdown(info: dict, allreduce: dict, pooled: dict) -> str:
    lines = [f"- command: `{info['command']}`", f"- date: {info['date']}",
             f"- code: {info['code']}",
             f"- machine: {info['cpu_model']}, {info['cores']} usable cores shared with other "
             f"jobs, load average {info['load_before']} before / {info['load_after']} after",
             f"- MPI: {info['mpi']} (the `mpich` wheel, shared memory on one host), "
             f"mpi4py {info['mpi4py']}", "",
             "### Gradient allreduce vs bytes (2 ranks, float32)", "",
             "Time (median over interleaved rounds, the slower rank's), bus bandwidth, and in "
             "brackets the median per-round ratio to the plain `mpi4py` `Allreduce` of the "
             "same bytes (> 1: slower).", "",
             "| bytes | mpi4py Allreduce | ours, 1 tensor | ours, 64 tensors | "
             "ours, 64 tensors, all packed |", "|---:|---:|---:|---:|---:|"]
    for nbytes, row in allreduce.items():
        cells = []
        for name in ("mpi4py Allreduce", "ours, 1 tensor", "ours, 64 tensors",
                     "ours, 64 tensors, all packed"):
            r = row[name]
            bus = int(nbytes) / r["median_s"] / 1e9           # 2 (N-1)/N = 1 for N = 2
            ratio = "" if name == "mpi4py Allreduce" else f" ({r['ratio_median']:.2f}x)"
            cells.append(f"{_fmt(r['median_s'])}, {bus:.2f} GB/s{ratio}")
        lines.append(f"| {_size(int(nbytes))} | " + " | ".join(cells) + " |")
    lines += ["", "### Training steps per second, 1 process vs 2 ranks (same global batch)", "",
              "Step: the median time between training-batch ends over every step of every "
              "launch; speed-ups: the median over rounds of the per-round ratio of the two "
              "launches' median steps (> 1: faster than that one-process run); compute "
              "(forward, loss, backward) and optimizer (the step and, on 2 ranks, the "
              "gradient communication): medians over launches of rank 0's per-step means.",
              "",
              "| model | run | step (median) | steps/s | vs 1 process, 1 thread | "
              "vs 1 process, 2 threads | compute | optimizer + comm | epoch wall time |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for model, title in MODELS:
        for label, *_ in CONFIGS:
            e = pooled.get(f"{model}|{label}")
            if e is None:
                continue
            speed = 1 / e["median_step_s"]
            rel = [f"{e[f'speedup vs {base}']:.2f}x"
                   for base in ("1 process, 1 thread", "1 process, 2 threads")]
            ph = e["median_phases"]
            lines.append(f"| {title} | {label} | {_fmt(e['median_step_s'])} | {speed:.1f} | "
                         f"{rel[0]} | {rel[1]} | {_fmt(ph['compute_s'])} | "
                         f"{_fmt(ph['optimizer_s'])} | {_fmt(e['median_epoch_s'])} |")
    lines += ["", "### ZeRO-1 memory (MLP 21.0M, AdamW, float32, batch 64)", "",
              "| run | optimizer state per rank | peak RSS per rank (while training) |",
              "|---|---:|---:|"]
    for label, *_ in CONFIGS:
        e = pooled.get(f"mlp20m-64|{label}")
        if e is None:
            continue
        state = " / ".join(f"{b / 2**20:.1f} MiB" for b in e["state_bytes"])
        rss = " / ".join(f"{b / 2**20:.0f} MiB" for b in e["peak_rss_bytes"])
        lines.append(f"| {label} | {state} | {rss} |")
    return "\n".join(lines)


def write(md: str, payload: dict) -> None:
    title = "## Distributed training over MPI (`python -m bench.distributed`)"
    write_results(payload, HERE / "results" / "distributed.json",
                  f"{BEGIN}\n{title}\n\n{md}\n{END}", HERE / "RESULTS.md", BEGIN, END)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.distributed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few rounds, sizes to 16 MiB")
    parser.add_argument("--rounds", type=int, default=15, help="allreduce rounds (large sizes)")
    parser.add_argument("--launches", type=int, default=5, help="rounds of training launches")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    import mpi4py
    info = machine_info()
    info.update(date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), code=git_state(),
                load_before=" ".join(f"{v:.2f}" for v in os.getloadavg()),
                mpi4py=mpi4py.__version__,
                command=("python -m bench.distributed " + " ".join(argv or sys.argv[1:])).strip())
    info["mpi"] = subprocess.run([sys.executable, "-c", "from mpi4py import MPI; print("
                                  "MPI.Get_library_version().splitlines()[0].strip())"],
                                 capture_output=True, text=True).stdout.strip()
    sizes = SIZES[:6] if args.quick else SIZES
    allreduce = launch(2, 1, "allreduce", str(2 if args.quick else args.rounds),
                       *map(str, sizes))
    print("allreduce done", file=sys.stderr)
    pooled = steps(1 if args.quick else args.launches, [m for m, _ in MODELS])
    info["load_after"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    md = markdown(info, allreduce, pooled)
    print(md)
    if not args.no_write:
        write(md, {"machine": info, "allreduce": allreduce, "steps": pooled})
    return 0


if __name__ == "__main__":
    sys.exit(main())
