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
import statistics
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np

from .report import machine_info, write_results

PHASES = ("data", "forward", "loss", "backward", "metrics", "optimizer", "callbacks", "other")
BEGIN, END = "<!-- loop:begin -->", "<!-- loop:end -->"


class KernelClock:
    """The optimizer's native kernel time as training runs it (caches, denormal
    state and all): each plan's one-thread kernel call, timed in place."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._wrapped: set[int] = set()

    def install(self, optimizer) -> None:
        for last in optimizer._last.values():
            for plan in last.plans:
                if id(plan) in self._wrapped:
                    continue
                if plan._workers != 1:
                    raise RuntimeError("bench.loop times one-thread kernel calls only")
                self._wrapped.add(id(plan))
                plan._run = self._timed(plan._run)
                # the steady-state step bound the plain call: the next step rebinds it
                optimizer._steady = None

    def _timed(self, call):
        pc = time.perf_counter

        def timed() -> None:
            t = pc()
            call()
            self.seconds += pc() - t
        return timed


def _phase_recorder(clock: KernelClock):
    from odyssey_training.callbacks import Callback

    class PhaseRecorder(Callback):
        """Per-epoch timings; an epoch's wall time runs from this callback's
        ``on_epoch_begin`` to the next one (or the end of training), so it covers
        validation and every epoch-end callback, the checkpoint writer included.
        ``current`` is the epoch's row, which the instrumentation adds to."""

        def __init__(self) -> None:
            self.rows: list[dict] = []
            self.current: dict = {}
            self._start = None

        def _close(self) -> None:
            if self._start is not None:
                self.rows[-1]["epoch_wall"] = time.perf_counter() - self._start

        def on_epoch_begin(self, epoch, logs=None):
            self._close()
            self.loop.timings.reset()
            clock.install(self.loop.optimizer)
            clock.seconds = 0.0
            self.current = {"val_forward": 0.0, "validation": 0.0, "epoch_end": {}}
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.current.update(self.loop.timings.as_dict(), epoch=epoch,
                                optimizer_kernel=clock.seconds)
            self.rows.append(self.current)

        def on_train_end(self, logs=None):
            self._close()

    return PhaseRecorder()


def _instrument(job, recorder) -> None:
    """Time validation (and its forward passes: model math) and each callback's
    ``on_epoch_end`` into the recorder's current row (instance attributes only)."""
    loop, model = job.loop, job.model
    forward, validate = model.forward, loop._validate
    pc = time.perf_counter

    def timed_forward(inputs, training=True):
        if training:
            return forward(inputs, training=True)
        t = pc()
        out = forward(inputs, training=False)
        recorder.current["val_forward"] += pc() - t
        return out

    def timed_validate(*args):
        t = pc()
        out = validate(*args)
        recorder.current["validation"] += pc() - t
        return out

    def timed(hook, name):
        def call(epoch, logs=None):
            t = pc()
            hook(epoch, logs)
            spent = recorder.current["epoch_end"]
            spent[name] = spent.get(name, 0.0) + pc() - t
        return call

    model.forward, loop._validate = timed_forward, timed_validate
    for cb in loop.callbacks:       # fit() orders them into a list of its own: wrap each
        if cb is not recorder:
            cb.on_epoch_end = timed(cb.on_epoch_end, type(cb).__name__)


def _kernel_seconds(loop, job) -> tuple[float, float]:
    """Seconds of one optimizer kernel call and one metric kernel call (a training
    batch's shape), native code only: min over repeats."""
    from odyssey_training.metrics import _native

    opt = loop.optimizer
    plans = [plan for last in opt._last.values() for plan in last.plans]
    calls = [plan._run for plan in plans]

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


def bare_loop(job, epochs: int, clock: KernelClock) -> dict:
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
        clock.install(opt)
        clock.seconds = 0.0
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
        phases["optimizer_kernel"] = clock.seconds
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
        clock = KernelClock()
        recorder = _phase_recorder(clock)
        job = prepare(config, Path(tmp) / "run", progress=False, callbacks=[recorder])
        _instrument(job, recorder)
        limits = _limit_blas_threads()
        try:
            job.loop.fit(job.train_loader, job.val_loader, epochs=epochs)
            opt_s, metric_s = _kernel_seconds(job.loop, job)
            bare = bare_loop(job, 20, clock)
        finally:
            if limits is not None:
                limits.restore_original_limits()
        steps = len(job.train_loader)       # one optimizer step per batch (no accumulation)
    return recorder.rows, opt_s, metric_s, steps, bare


def summarize(rows: list[dict], opt_s: float, metric_s: float, steps: int,
              bare: dict) -> dict:
    rows = [r for r in rows if r["epoch"] > 0 and "epoch_wall" in r]

    def med(get) -> float:
        return statistics.median(get(r) for r in rows)
    batches = med(lambda r: r["batches"])
    phase = {k: med(lambda r: r[k]) for k in (*PHASES, "total")}
    opt_kernel = med(lambda r: r["optimizer_kernel"])      # in place, per epoch
    kernels = opt_kernel + batches * metric_s
    model = phase["forward"] + phase["loss"] + phase["backward"]
    epoch_wall, val_forward = med(lambda r: r["epoch_wall"]), med(lambda r: r["val_forward"])
    callbacks = {name: med(lambda r: r["epoch_end"].get(name, 0.0))
                 for name in rows[0]["epoch_end"]}
    validation = med(lambda r: r["validation"])
    bare_inside = bare["model"] + bare["optimizer_kernel"] + metric_s
    return {
        "batches_per_epoch": batches, "steps_per_batch": steps / batches,
        "per_batch_us": {k: phase[k] / batches * 1e6 for k in (*PHASES, "total")},
        "kernel_us": {"optimizer_per_step": opt_kernel / steps * 1e6,
                      "optimizer_per_step_warm": opt_s * 1e6,
                      "metrics_per_batch": metric_s * 1e6},
        "wrappers_us_per_batch": {
            "optimizer": (phase["optimizer"] - opt_kernel) / batches * 1e6,
            "metrics": (phase["metrics"] - batches * metric_s) / batches * 1e6},
        "bare_per_batch_us": {k: v * 1e6 for k, v in bare.items()},  # optimizer_kernel incl.
        "epoch_ms": {"wall": epoch_wall * 1e3, "training_batches": phase["total"] * 1e3,
                     "validation": validation * 1e3, "validation_forward": val_forward * 1e3,
                     **{f"on_epoch_end {k}": v * 1e3 for k, v in callbacks.items()},
                     "rest": med(lambda r: r["epoch_wall"] - r["total"] - r["validation"]
                                 - sum(r["epoch_end"].values())) * 1e3},
        "overhead_share_of_batches": 1 - (model + kernels) / phase["total"],
        "bare_overhead_share_of_batches": 1 - bare_inside / bare["total"],
        "overhead_share_of_epoch": 1 - (model + kernels + val_forward) / epoch_wall,
    }


def markdown(cases: list[tuple[str, dict]], machine: dict, command: str, load: str) -> str:
    lines = [BEGIN, "## Loop overhead (`python -m bench.loop`)", "",
             f"`{command}` on {machine.get('cpu_model', '?')} "
             f"(LLVM `{machine.get('llvm_cpu', '?')}`), load average at start {load}. "
             "Medians over epochs 1.. of every run (epoch 0 compiles kernels). "
             "*Inside* is the model's math (forward, loss, backward; validation's forward) "
             "and the native optimizer and metric kernels; everything else is overhead. "
             "*Bare loop*: the same model, loss, optimizer, scheduler and metrics driven by "
             "a plain hand-written `for x, y in loader:` loop (no callbacks, logs, "
             "validation or timings): the floor for any Python loop over these calls.", ""]
    for title, r in cases:
        b, bare = r["per_batch_us"], r["bare_per_batch_us"]
        k, w = r["kernel_us"], r["wrappers_us_per_batch"]
        lines += [f"### {title}: {r['batches_per_epoch']:.0f} batches per epoch", "",
                  "| phase of a training batch | ours µs | share | bare loop µs |",
                  "|---|---:|---:|---:|"]
        bare_of = {"data": bare["data"], "forward": None, "loss": None,
                   "backward": None, "metrics": bare["metrics"],
                   "optimizer": bare["optimizer"]}
        for name in PHASES:
            cell = bare_of.get(name)
            lines.append(f"| {name} | {b[name]:.1f} | {b[name] / b['total']:.1%} | "
                         + ("" if cell is None else f"{cell:.1f}") + " |")
        lines[-len(PHASES) + 1] = lines[-len(PHASES) + 1].rstrip("|").rstrip() + \
            f" {bare['model']:.1f} (forward+loss+backward) |"
        lines.insert(len(lines) - 2, f"| (of which the optimizer kernel) | "
                     f"{k['optimizer_per_step'] * r['steps_per_batch']:.1f} | | "
                     f"{bare['optimizer_kernel']:.1f} |")
        lines += [f"| total | {b['total']:.1f} | | {bare['total']:.1f} |", "",
                  f"Native kernels: the optimizer's {k['optimizer_per_step']:.1f} µs per step "
                  f"as training runs it (timed in place; "
                  f"{k['optimizer_per_step_warm']:.1f} µs called alone with warm caches), "
                  f"the metrics' {k['metrics_per_batch']:.2f} µs per batch; their Python "
                  f"sides: optimizer (step bookkeeping, scheduler, zero_grad) "
                  f"{w['optimizer']:.1f} µs, metrics {w['metrics']:.1f} µs per batch.", "",
                  "| where an epoch goes | ms |", "|---|---:|"]
        lines += [f"| {name.replace('_', ' ')} | {ms:.2f} |" for name, ms in r["epoch_ms"].items()]
        lines += ["", f"**Overhead share: training batches {r['overhead_share_of_batches']:.1%} "
                      f"(bare loop {r['bare_overhead_share_of_batches']:.1%}); whole epoch "
                      f"{r['overhead_share_of_epoch']:.1%}.**", ""]
    return "\n".join(lines + [END])


#: what the bench trains: the default job, and the same job with more math per batch
CASES = {"default job (MLP 64-256-10, batch 32)": None,
         "MLP 64-1024-10, batch 256": {"batch_size": 256, "model": {"hidden": [1024]}}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    cases = []
    for title, overrides in CASES.items():
        rows, opt_s, metric_s, bares, steps = [], [], [], [], 0
        for _ in range(args.runs):
            r, o, m, steps, bare = run_once(args.epochs, overrides)
            rows += r
            opt_s.append(o)
            metric_s.append(m)
            bares.append(bare)
        bare = {k: statistics.median(b[k] for b in bares) for k in bares[0]}
        cases.append((title, summarize(rows, min(opt_s), min(metric_s), steps, bare)))
    machine = machine_info()
    command = f"python -m bench.loop --runs {args.runs} --epochs {args.epochs}"
    text = markdown(cases, machine, command, load)
    print(text)
    if not args.no_write:
        here = Path(__file__).parent
        write_results({"cases": dict(cases), "machine": machine, "load": load,
                       "command": command}, here / "results" / "loop.json", text,
                      here / "RESULTS.md", BEGIN, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
