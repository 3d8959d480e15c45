"""Loop overhead: the share of the default job's epoch spent outside the model's
forward/backward and the optimizer and metric kernels.

``python -m bench.loop`` trains the main job's default configuration (the digits
MLP, AdamW + WarmupCosine, accuracy and F1, its callbacks; early stopping off so
every run has the same epochs) in-process, ``--runs`` times, and records per epoch:

* the loop's own per-phase timings of the training batches (``loop.timings``:
  data, forward, loss, backward, metrics, optimizer, callbacks, other);
* the wall time of the whole epoch (from one ``on_epoch_begin`` to the next: the
  batches, validation, and the epoch-end callbacks, checkpoint writing included);
* the native kernel time alone, measured after training on the same tensors: the
  optimizer's kernel call (its pointer table as the last step left it) and the
  metric kernel call on a batch of the same shape.

"Inside" is forward + loss + backward (the model's math) plus the kernel times;
everything else -- the optimizer's and metrics' Python wrappers, the scheduler,
the data loader, callbacks and the loop's bookkeeping -- is overhead.  Two shares
are reported: over the training batches, and over the whole epoch.  Epoch 0
(kernel compilation) is excluded; values are medians over epochs and runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np

from .report import machine_info

PHASES = ("data", "forward", "loss", "backward", "metrics", "optimizer", "callbacks", "other")
BEGIN, END = "<!-- loop:begin -->", "<!-- loop:end -->"


def _phase_recorder():
    from odyssey_training.callbacks import Callback

    class PhaseRecorder(Callback):
        """Per-epoch timings; an epoch's wall time runs from this callback's
        ``on_epoch_begin`` to the next one (or the end of training), so it covers
        validation and every epoch-end callback, the checkpoint writer included."""

        def __init__(self) -> None:
            self.rows: list[dict] = []
            self._start = None

        def _close(self) -> None:
            if self._start is not None:
                self.rows[-1]["epoch_wall"] = time.perf_counter() - self._start

        def on_epoch_begin(self, epoch, logs=None):
            self._close()
            self.loop.timings.reset()
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.rows.append({**self.loop.timings.as_dict(), "epoch": epoch})

        def on_train_end(self, logs=None):
            self._close()

    return PhaseRecorder()


def _kernel_seconds(loop, job) -> tuple[float, float]:
    """Seconds of one optimizer kernel call and one metric kernel call (a training
    batch's shape), native code only: min over repeats."""
    from odyssey_training.metrics import _native

    opt = loop.optimizer
    plans = [plan for last in opt._last.values() for plan in last.plans]
    calls = [plan._call_all for plan in plans]

    def optimizer_kernel() -> None:
        for call in calls:
            call()
    opt_seconds = min(timeit.repeat(optimizer_kernel, number=200, repeat=7)) / 200

    x, y = next(iter(job.train_loader))
    logits = np.ascontiguousarray(job.model.forward(x, training=False))
    labels = np.ascontiguousarray(y, dtype=np.int64)
    counts = np.zeros((job.data.num_classes,) * 2, dtype=np.int64)
    fn = _native.kernel_for(_native.SPEC_NAMES["scores", "confusion"],
                            logits.dtype.name, "int64", job.data.num_classes)
    args = np.zeros(_native.ARGS_WORDS, dtype=np.int64)
    args[_native._I_PREDS] = _native.address(logits)
    args[_native._I_TARGETS] = _native.address(labels)
    args[_native._I_C] = job.data.num_classes
    args[_native._I_COUNTS] = _native.address(counts)
    args[_native._I_DELTA] = 1
    status = np.zeros(_native.STATUS_WORDS, dtype=np.int64)
    args_ptr = _native._ffi.cast("int64_t *", _native.address(args))
    status_ptr = _native._ffi.cast("int64_t *", _native.address(status))
    n = len(labels)
    metric_seconds = min(timeit.repeat(lambda: fn(args_ptr, 0, n, status_ptr),
                                       number=2000, repeat=7)) / 2000
    return opt_seconds, metric_seconds


def bare_loop(job, epochs: int) -> dict:
    """The floor: the same model, loss, optimizer, scheduler and metrics driven by the
    plainest hand-written loop (no callbacks, no logs, no timings, no validation), as a
    user of the original library's "custom loop" would write it.  Per batch seconds of
    each phase, medians over epochs."""
    model, loss_fn, opt = job.model, job.loop.loss, job.loop.optimizer
    scheduler, metrics = job.loop.scheduler, job.loop.metrics
    pc = time.perf_counter
    rows = []
    for _ in range(epochs):
        metrics.reset()
        phases = dict.fromkeys(("data", "model", "metrics", "optimizer"), 0.0)
        n, start = 0, pc()
        tick = start
        for x, y in job.train_loader:
            t0 = pc()
            out = model.forward(x, training=True)
            value, grad = loss_fn(out, y)
            model.backward(grad)
            t1 = pc()
            metrics.update(out, y)
            t2 = pc()
            opt.step()
            opt.zero_grad()
            if scheduler is not None:
                scheduler.step()
            t3 = pc()
            phases["data"] += t0 - tick
            phases["model"] += t1 - t0
            phases["metrics"] += t2 - t1
            phases["optimizer"] += t3 - t2
            n += 1
            tick = t3
        metrics.compute()
        phases["total"] = pc() - start
        rows.append({k: v / n for k, v in phases.items()})
    return {k: statistics.median(r[k] for r in rows[1:]) for k in rows[0]}


def run_once(epochs: int, overrides: dict | None = None
             ) -> tuple[list[dict], float, float, int, dict]:
    from odyssey_training.job.config import resolve
    from odyssey_training.job.models import model_options
    from odyssey_training.job.run import _limit_blas_threads, prepare

    config = resolve([("bench", overrides)] if overrides else [], model_options)
    config["epochs"] = epochs
    config["early_stopping"]["enabled"] = False
    with tempfile.TemporaryDirectory() as tmp:
        recorder = _phase_recorder()
        job = prepare(config, Path(tmp) / "run", progress=False, callbacks=[recorder])
        limits = _limit_blas_threads()
        try:
            job.loop.fit(job.train_loader, job.val_loader, epochs=epochs)
            opt_s, metric_s = _kernel_seconds(job.loop, job)
            bare = bare_loop(job, 20)
        finally:
            if limits is not None:
                limits.restore_original_limits()
        steps = len(job.train_loader)       # one optimizer step per batch (no accumulation)
    return recorder.rows, opt_s, metric_s, steps, bare


def summarize(rows: list[dict], opt_s: float, metric_s: float, steps: int) -> dict:
    rows = [r for r in rows if r["epoch"] > 0 and "epoch_wall" in r]
    med = {k: statistics.median(r[k] for r in rows) for k in (*PHASES, "total", "epoch_wall")}
    batches = statistics.median(r["batches"] for r in rows)
    kernels = steps * opt_s + batches * metric_s
    model = med["forward"] + med["loss"] + med["backward"]
    inside = model + kernels
    return {
        "per_batch_us": {k: med[k] / batches * 1e6 for k in (*PHASES, "total")},
        "kernel_us": {"optimizer_per_step": opt_s * 1e6, "metrics_per_batch": metric_s * 1e6},
        "batches_per_epoch": batches, "epoch_wall_ms": med["epoch_wall"] * 1e3,
        "training_ms": med["total"] * 1e3,
        "overhead_share_of_batches": 1 - inside / med["total"],
        "overhead_share_of_epoch": 1 - inside / med["epoch_wall"],
        "wrappers_us_per_batch": {
            "optimizer": (med["optimizer"] - steps * opt_s) / batches * 1e6,
            "metrics": (med["metrics"] - batches * metric_s) / batches * 1e6},
        "epoch_end_ms": (med["epoch_wall"] - med["total"]) * 1e3,
    }


def markdown(result: dict, machine: dict, command: str, load: str) -> str:
    b = result["per_batch_us"]
    lines = [BEGIN, "## Loop overhead (the main job's default run)", "",
             f"`{command}` on {machine.get('cpu_model', '?')} "
             f"({machine.get('llvm_cpu', '?')}), load average at start {load}.", "",
             "| phase (training batches) | µs per batch | share |", "|---|---:|---:|"]
    for k in PHASES:
        lines.append(f"| {k} | {b[k]:.1f} | {b[k] / b['total']:.1%} |")
    lines.append(f"| total | {b['total']:.1f} | |")
    k, w = result["kernel_us"], result["wrappers_us_per_batch"]
    lines += ["",
              f"Native kernels alone: optimizer {k['optimizer_per_step']:.1f} µs per step, "
              f"metrics {k['metrics_per_batch']:.2f} µs per batch; so the optimizer's "
              f"Python side (step bookkeeping, scheduler, zero_grad) costs "
              f"{w['optimizer']:.1f} µs and the metrics' {w['metrics']:.1f} µs per batch.",
              "",
              f"**Overhead share of the training batches: "
              f"{result['overhead_share_of_batches']:.1%}** (everything but forward, loss, "
              f"backward and the kernels). Whole epoch: {result['epoch_wall_ms']:.1f} ms, of "
              f"which {result['epoch_end_ms']:.1f} ms after the last batch (validation, "
              f"logs, checkpoint written with fsync): overhead share of the whole epoch "
              f"{result['overhead_share_of_epoch']:.1%}.", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    rows, opt_s, metric_s, steps = [], [], [], 0
    for _ in range(args.runs):
        r, o, m, steps = run_once(args.epochs)
        rows += r
        opt_s.append(o)
        metric_s.append(m)
    result = summarize(rows, min(opt_s), min(metric_s), steps)
    machine = machine_info()
    command = f"python -m bench.loop --runs {args.runs} --epochs {args.epochs}"
    text = markdown(result, machine, command, load)
    print(text)
    if not args.no_write:
        out = Path(__file__).parent / "results" / "loop.json"
        out.write_text(json.dumps({"result": result, "machine": machine, "load": load,
                                   "command": command}, indent=2) + "\n")
        md = Path(__file__).parent / "RESULTS.md"
        current = md.read_text()
        if BEGIN in current:
            head, rest = current.split(BEGIN, 1)
            current = head + text + rest.split(END, 1)[1]
        else:
            current = current.rstrip("\n") + "\n\n" + text + "\n"
        md.write_text(current)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
