"""Metric update throughput: ours vs NumPy argmax+bincount, sklearn, torchmetrics.

``python -m bench.metrics`` times, in one process and interleaved (every round
runs each contender once, in a fresh random order), the update of a confusion
count from ``(N, C)`` float32 logits and int64 labels on three shapes, and
reports medians:

* ours: ``ConfusionMatrix.update`` (one native argmax + confusion pass; all
  threads, and again with ``ODYSSEY_NUM_THREADS=1``), ``Accuracy.update`` (argmax
  + hit count), and a ``MetricCollection`` of Accuracy, Precision, Recall, F1 and
  ConfusionMatrix (which shares that one pass);
* NumPy: ``np.bincount(t * C + x.argmax(1), minlength=C*C)`` and ``x.argmax(1)``;
* sklearn: ``confusion_matrix(t, x.argmax(1), labels=range(C))`` and
  ``precision_recall_fscore_support(..., average="macro")`` (argmax included:
  every contender starts from the logits);
* torchmetrics (when importable): ``MulticlassConfusionMatrix.update`` on
  ``torch.from_numpy`` views (default ``validate_args=True``) and with
  ``validate_args=False``;
* for scale: ``x.max()``, one NumPy read of the logits.

Writes ``bench/results/metrics.json`` and the table into ``bench/RESULTS.md``
between ``<!-- metrics:begin -->`` and ``<!-- metrics:end -->`` (the rest of the
file is kept).  ``--quick`` uses fewer rounds; ``--no-write`` only prints.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from odyssey_training.metrics import (Accuracy, ConfusionMatrix, F1Score, MetricCollection,
                                      Precision, Recall)

from .report import write_results

BEGIN, END = "<!-- metrics:begin -->", "<!-- metrics:end -->"
HERE = Path(__file__).resolve().parent
SHAPES = ((1_000_000, 10), (100_000, 1000), (1_000, 10))
OURS = "ours: ConfusionMatrix.update"
#: (contender, shape, minimum speed-up of ours) from the issue; the tiny-batch target
#: is "within 2x of NumPy", i.e. a speed-up of at least 0.5
TARGETS = (("numpy argmax+bincount", (1_000_000, 10), 10.0),
           ("sklearn confusion_matrix", (1_000_000, 10), 30.0),
           ("numpy argmax+bincount", (1_000, 10), 0.5))


def _single_thread(update: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        saved = os.environ.get("ODYSSEY_NUM_THREADS")
        os.environ["ODYSSEY_NUM_THREADS"] = "1"
        try:
            update()
        finally:
            if saved is None:
                del os.environ["ODYSSEY_NUM_THREADS"]
            else:
                os.environ["ODYSSEY_NUM_THREADS"] = saved
    return run


def contenders(x: np.ndarray, t: np.ndarray) -> dict[str, Callable[[], object]]:
    """Name -> a zero-argument call that updates from the whole batch once."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    C = x.shape[1]
    labels = list(range(C))
    cm, acc = ConfusionMatrix(C), Accuracy(C)
    mc = MetricCollection([Accuracy(C), Precision(C, zero_division=0), Recall(C, zero_division=0),
                           F1Score(C, zero_division=0), ConfusionMatrix(C)])
    cm1 = ConfusionMatrix(C)
    out: dict[str, Callable[[], object]] = {
        OURS: lambda: cm.update(x, t),
        "ours, 1 thread": _single_thread(lambda: cm1.update(x, t)),
        "ours: Accuracy.update": lambda: acc.update(x, t),
        "ours: 5-metric collection": lambda: mc.update(x, t),
        "numpy argmax+bincount": lambda: np.bincount(t * C + x.argmax(axis=1), minlength=C * C),
        "numpy argmax": lambda: x.argmax(axis=1),
        "sklearn confusion_matrix": lambda: confusion_matrix(t, x.argmax(axis=1), labels=labels),
        "sklearn precision_recall_fscore_support": lambda: precision_recall_fscore_support(
            t, x.argmax(axis=1), labels=labels, average="macro", zero_division=0),
        "read once: x.max()": lambda: x.max(),
    }
    try:
        import torch
        from torchmetrics.classification import MulticlassConfusionMatrix
    except ImportError:
        return out
    xt, tt = torch.from_numpy(x), torch.from_numpy(t)
    checked = MulticlassConfusionMatrix(C)
    unchecked = MulticlassConfusionMatrix(C, validate_args=False)
    out["torchmetrics MulticlassConfusionMatrix"] = lambda: checked.update(xt, tt)
    out["torchmetrics, validate_args=False"] = lambda: unchecked.update(xt, tt)
    return out


def measure(shape: tuple[int, int], rounds: int, seed: int = 0) -> dict[str, dict]:
    """Interleaved rounds; returns name -> {median_s, min_s, rounds}."""
    n, C = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, C), dtype=np.float32)
    t = rng.integers(0, C, size=n)
    calls = contenders(x, t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for call in calls.values():       # warm-up: compiles kernels, fills caches
            call()
        times: dict[str, list[float]] = {name: [] for name in calls}
        order = list(calls)
        shuffle = random.Random(seed)
        for _ in range(rounds):
            shuffle.shuffle(order)
            for name in order:
                start = time.perf_counter()
                calls[name]()
                times[name].append(time.perf_counter() - start)
    return {name: {"median_s": statistics.median(ts), "min_s": min(ts), "rounds": len(ts)}
            for name, ts in times.items()}


def machine() -> dict:
    from odyssey_codegen.target import default_target

    model = "unknown"
    try:
        model = next(line.split(":", 1)[1].strip() for line in
                     Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or model
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    target = default_target()
    return {"cpu_model": model, "cores": cores, "llvm_cpu": target.cpu,
            "simd_bits": target.vector_bits, "python": platform.python_version(),
            "numpy": np.__version__, "threads_env": os.environ.get("ODYSSEY_NUM_THREADS")}


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def markdown(results: dict, info: dict, command: str) -> str:
    shapes = list(results)
    names = list(results[shapes[0]])
    lines = [f"Command: `{command}` — {info['date']}, {info['cpu_model']} "
             f"({info['cores']} usable cores, LLVM CPU {info['llvm_cpu']}, "
             f"{info['simd_bits']}-bit vectors), load average {info['load_before']} before / "
             f"{info['load_after']} after.  Medians of {info['rounds']} interleaved rounds; "
             "float32 logits, int64 labels; the ratio is the contender's time over "
             f"`{OURS}` (higher = ours faster).", "",
             "| contender | " + " | ".join(f"{n:,} x {c:,}" for n, c in shapes) + " |",
             "|---|" + "---:|" * len(shapes)]
    for name in names:
        cells = []
        for shape in shapes:
            r = results[shape].get(name)
            if r is None:
                cells.append("–")
                continue
            ratio = r["median_s"] / results[shape][OURS]["median_s"]
            cells.append(_fmt(r["median_s"]) + ("" if name == OURS else f" ({ratio:.1f}x)"))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Targets (from the issue):", ""]
    for line in evaluate(results):
        lines.append(f"- {line}")
    return "\n".join(lines)


def evaluate(results: dict) -> list[str]:
    out = []
    for name, shape, need in TARGETS:
        if shape not in results or name not in results[shape]:
            continue
        got = results[shape][name]["median_s"] / results[shape][OURS]["median_s"]
        verdict = "PASS" if got >= need else "MISS"
        goal = f">= {need:g}x faster" if need >= 1 else f"within {1 / need:g}x"
        out.append(f"{verdict}: {shape[0]:,} x {shape[1]:,} vs {name}: {got:.1f}x "
                   f"(target {goal})")
    return out


def write(md: str, payload: dict) -> None:
    title = "## Metric updates (`python -m bench.metrics`)"
    write_results(payload, HERE / "results" / "metrics.json",
                  f"{BEGIN}\n{title}\n\n{md}\n{END}", HERE / "RESULTS.md", BEGIN, END)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 rounds (tiny shape: 50)")
    parser.add_argument("--rounds", type=int, default=21, help="rounds per large shape")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    rounds = 5 if args.quick else args.rounds
    info = machine()
    info["date"] = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    info["load_before"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    info["rounds"] = f"{rounds} (tiny shape: {rounds * 10})"
    results = {}
    for shape in SHAPES:
        results[shape] = measure(shape, rounds * 10 if shape[0] * shape[1] < 100_000 else rounds)
        print(f"measured {shape}", file=sys.stderr)
    info["load_after"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    command = "python -m bench.metrics" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    md = markdown(results, info, command.strip())
    print(md)
    if not args.no_write:
        payload = {"machine": info, "command": command.strip(),
                   "results": {f"{n}x{c}": r for (n, c), r in results.items()},
                   "targets": evaluate(results)}
        write(md, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
