"""``BasicTrainingLoop``: epochs of forward, loss, backward, optimizer step, with
metrics, validation, callbacks, gradient accumulation, clipping, schedulers and
an exact, resumable state.

One training batch::

    outputs = model.forward(inputs, training=True)
    loss, grad_outputs = loss_fn(outputs, targets)
    model.backward(grad_outputs / grad_accum_steps)      # accumulates into .grad
    metrics.update(outputs, targets)
    every grad_accum_steps batches (and at the epoch's last batch):
        clip_grad_value_ (a native kernel), then optimizer.step() with the
        group's max_grad_norm (clipping fused into the update kernel),
        optimizer.zero_grad(), scheduler.step() when scheduler_interval="step"

Logs are Keras's: ``loss`` (the epoch's mean, weighted by batch size), each
metric's scalar value under its name, ``lr`` (the first group's lr used by
the epoch's last optimizer step) and the same with ``val_`` for validation.

Subclass hooks (``DistributedTrainingLoop`` overrides them; here they change
nothing): ``_grad_scale`` (the factor on a batch's loss gradient),
``_apply_gradients`` (accumulated gradients -> clipped optimizer step),
``_reduce_states`` (merge the running loss and metric states before
``compute``) and ``_run_order`` (the callbacks as a hook calls them).
"""

from __future__ import annotations

import random
from time import perf_counter
from typing import Any, Iterable

import numpy as np

from ..callbacks.base import Callback, CallbackList
from ..callbacks.history import History
from ..elementwise import clip_grad_value_
from ..metrics import MetricCollection
from ..clip import clip_grad_norm_
from ..optimizers.hyper import check_number
from .base import Timings, as_collection, check_model, fresh_copy, BatchMean, scalar_logs
from .evaluate import run_evaluation
from .state import LoopState

__all__ = ["BasicTrainingLoop", "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed Python's ``random`` and NumPy's global generator (and torch's, when torch
    is already imported), as Lightning's ``seed_everything``."""
    import sys
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(int(seed))


class BasicTrainingLoop(LoopState):
    """Train ``model`` with ``optimizer`` on batches of ``(inputs, targets)``.

    Args:
        model: ``parameters()``, ``forward(inputs, training)``, ``backward(grad_outputs)``.
        optimizer: an odyssey optimizer (or anything with ``step``, ``zero_grad`` and
            ``param_groups``).
        loss: ``loss(outputs, targets) -> (value, grad_outputs)``; default
            ``CrossEntropyLoss()``.
        scheduler: stepped once per epoch (``scheduler_interval="epoch"``, after
            validation) or once per optimizer step (``"step"``); a
            ``ReduceLROnPlateau`` scheduler is fed ``logs[scheduler_monitor]``.
        metrics: dict name -> Metric, a list of Metrics (default names), or a
            MetricCollection; validation uses fresh copies (``loop.val_metrics``).
        callbacks: Callbacks, called in order; ``History`` comes after them, then the
            callbacks that write checkpoints (ModelCheckpoint, BackupAndRestore), which
            come first at ``on_train_begin`` instead (a restore precedes the rest).
        grad_accum_steps: batches whose gradients add up before one optimizer step
            (the loss gradient is divided by it, so k batches of b step as one of k*b).
        clip_grad_norm: global L2 norm limit, fused into the update kernel through
            each group's ``max_grad_norm`` (``clip_grad_norm_`` for other optimizers).
        clip_grad_value: clamp every gradient element to ``[-v, v]`` before the step
            (one native pass).
        seed: when given, ``seed_everything(seed)`` at the start of a fresh ``fit``.
    """

    def __init__(self, model: Any, optimizer: Any, loss: Any = None, scheduler: Any = None,
                 metrics: Any = None, callbacks: Iterable[Callback] | None = None, *,
                 grad_accum_steps: int = 1, clip_grad_norm: float | None = None,
                 clip_grad_value: float | None = None, scheduler_interval: str = "epoch",
                 scheduler_monitor: str = "val_loss", seed: int | None = None) -> None:
        check_model(model)
        for attr in ("step", "zero_grad", "param_groups"):
            if not hasattr(optimizer, attr):
                raise TypeError(f"optimizer {type(optimizer).__name__} has no {attr}")
        if loss is None:
            from ..losses import CrossEntropyLoss
            loss = CrossEntropyLoss()
        if not callable(loss):
            raise TypeError(f"loss must be callable (outputs, targets) -> (value, grad), "
                            f"got {type(loss).__name__}")
        if scheduler is not None and not callable(getattr(scheduler, "step", None)):
            raise TypeError(f"scheduler {type(scheduler).__name__} has no step()")
        if isinstance(grad_accum_steps, bool) or not isinstance(grad_accum_steps, int) \
                or grad_accum_steps < 1:
            raise ValueError(f"grad_accum_steps must be an int >= 1, got {grad_accum_steps!r}")
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got "
                             f"{scheduler_interval!r}")
        self.plateau = scheduler is not None and _is_plateau(scheduler)
        if self.plateau and scheduler_interval == "step":
            raise ValueError("a ReduceLROnPlateau scheduler steps on epoch logs: use "
                             "scheduler_interval='epoch'")
        self.model, self.optimizer, self.loss, self.scheduler = model, optimizer, loss, scheduler
        self.metrics = as_collection(metrics)
        self.val_metrics = fresh_copy(self.metrics)
        self.grad_accum_steps = grad_accum_steps
        self.clip_grad_value = _positive("clip_grad_value", clip_grad_value)
        self.clip_grad_norm = _positive("clip_grad_norm", clip_grad_norm)
        self._fused_norm = self.clip_grad_norm is not None and _use_fused_norm(
            optimizer, self.clip_grad_norm)
        self.scheduler_interval, self.scheduler_monitor = scheduler_interval, scheduler_monitor
        if seed is not None:
            seed_everything(seed)   # validates it
        self.seed = seed
        self.callbacks = CallbackList(callbacks or ())
        self.stop_training = False
        self.is_global_zero = True      # the process that writes files (see distributed/)
        self.timings = Timings()
        self.params: dict[str, Any] = {}
        self.train_data: Any = None
        self.history = History()
        LoopState.__init__(self)

    # ---- configuration ------------------------------------------------------
    def add_callback(self, callback: Callback) -> None:
        """Append a callback (it is called after the ones already there)."""
        self.callbacks.append(callback)

    # ---- fit ----------------------------------------------------------------
    def fit(self, train_data: Iterable, val_data: Iterable | None = None, epochs: int = 10,
            max_steps: int | None = None, validate_every: int = 1,
            initial_epoch: int = 0) -> History:
        """Train for epochs ``initial_epoch .. epochs - 1`` (Keras: ``epochs`` is the
        final epoch), or until ``max_steps`` optimizer steps in all, or until a
        callback sets ``loop.stop_training``; validate on ``val_data`` after every
        ``validate_every``-th epoch.  A loop restored from a checkpoint continues
        where it was saved, mid-epoch included.  Returns the :class:`History`."""
        epochs = _count("epochs", epochs, 0)
        validate_every = _count("validate_every", validate_every, 1)
        initial_epoch = _count("initial_epoch", initial_epoch, 0)
        if max_steps is not None:
            max_steps = _count("max_steps", max_steps, 0)
        self.train_data = train_data
        self.stop_training = False
        self.params = {"epochs": epochs, "steps": _len(train_data), "max_steps": max_steps}
        if self.resume_point() is None and self.seed is not None:
            seed_everything(self.seed)      # a state restored below brings its own RNG
        # on_train_begin comes before the resume point is read, so a callback that
        # restores a state there (BackupAndRestore) is continued by this fit
        self._run_order(None, train_begin=True).on_train_begin(None)
        resumed, keep_state = self.resume_point(), self.restored_epoch_state()
        self.apply_data_state(train_data)
        self.finish_fit()
        if resumed is None:
            start, skip = initial_epoch, 0
            self.history, self.epoch_logs = History(), None
        else:
            start, skip = max(initial_epoch, resumed[0]), resumed[1]
        cbs = self._run_order(self.history)
        logs: dict[str, Any] = {}
        try:
            for epoch in range(start, epochs):
                if max_steps is not None and self.global_step >= max_steps:
                    break
                logs = self._epoch(cbs, epoch, train_data, val_data, max_steps,
                                   validate=val_data is not None
                                   and (epoch + 1) % validate_every == 0,
                                   skip=skip if epoch == start else 0,
                                   keep_state=keep_state and epoch == start)
                if self.stop_training:
                    break
        except BaseException as exc:
            cbs.on_exception(exc)      # e.g. finish checkpoint writes still in flight
            raise
        cbs.on_train_end(logs)
        return self.history

    def _epoch(self, cbs: CallbackList, epoch: int, data: Iterable, val_data: Iterable | None,
               max_steps: int | None, validate: bool, skip: int,
               keep_state: bool) -> dict[str, Any]:
        self.epoch = epoch
        if not (skip and keep_state):   # else: the restored running loss and metrics
            self.metrics.reset()
            self.loss_mean = BatchMean()
            self.batches_done = 0
            self.micro_step = 0
        self.epoch_complete = False
        cbs.on_epoch_begin(epoch, None)
        self._train_batches(cbs, data, max_steps, skip)
        self._reduce_states(self.loss_mean, self.metrics)
        logs = {"loss": self.loss_mean.compute(),
                **scalar_logs(self.metrics.compute()), "lr": self._lr()}
        if validate:
            logs.update(self._validate(cbs, val_data))
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            self._step_scheduler_on_epoch(logs)
        self.epoch_complete = True
        self.epoch_logs = logs      # a state saved in on_epoch_end records them in history
        cbs.on_epoch_end(epoch, logs)
        return logs

    def _train_batches(self, cbs: CallbackList, data: Iterable, max_steps: int | None,
                       skip: int) -> None:
        model, loss_fn, metrics, timings = self.model, self.loss, self.metrics, self.timings
        seconds = timings.seconds
        begin_hooks = bool(cbs._calls["on_train_batch_begin"])
        end_hooks = bool(cbs._calls["on_train_batch_end"])
        accum = self.grad_accum_steps
        iterator = iter(data)
        if skip and not self.data_state_applied:
            for _ in range(skip):          # an iterable without state: replay its order
                next(iterator)
        batch = self.batches_done
        last = _len(data)
        if skip and skip == last:
            return      # restored after the epoch's last batch: its data has moved on
        tick = perf_counter()
        for inputs, targets in iterator:
            t0 = perf_counter()
            if begin_hooks:
                cbs.on_train_batch_begin(batch, None)
            t1 = perf_counter()
            outputs = model.forward(inputs, training=True)
            t2 = perf_counter()
            value, grad = loss_fn(outputs, targets)
            t3 = perf_counter()
            size = len(targets)
            scale = self._grad_scale(size, batch, last)
            model.backward(grad * scale if scale != 1.0 else grad)
            t4 = perf_counter()
            self.loss_mean.update(value, weight=size)
            self.micro_step += 1
            batch += 1
            self.batches_done = batch
            t5 = perf_counter()
            if len(metrics):
                metrics.update(outputs, targets)
            t6 = perf_counter()
            if self.micro_step == accum or batch == last:
                self._optimizer_step()
            t7 = perf_counter()
            if end_hooks:
                cbs.on_train_batch_end(batch - 1, {"batch": batch - 1, "size": size,
                                                   "loss": value})
            t8 = perf_counter()
            seconds["data"] += t0 - tick
            seconds["callbacks"] += (t1 - t0) + (t8 - t7)
            seconds["forward"] += t2 - t1
            seconds["loss"] += t3 - t2
            seconds["backward"] += t4 - t3
            seconds["metrics"] += t6 - t5
            seconds["optimizer"] += t7 - t6
            timings.batches += 1
            timings.samples += size
            end = perf_counter()
            timings.total += end - tick
            tick = end
            if self.stop_training or (max_steps is not None and self.global_step >= max_steps):
                break
        else:
            if self.micro_step:         # an iterable shorter than len(): step what is left
                self._optimizer_step()

    def _optimizer_step(self) -> None:
        self.last_lr = self.optimizer.param_groups[0]["lr"]
        self._apply_gradients()
        self.micro_step = 0
        self.global_step += 1
        if self.scheduler is not None and self.scheduler_interval == "step":
            self.scheduler.step()

    # ---- subclass hooks -----------------------------------------------------
    def _grad_scale(self, size: int, batch: int, last: int | None) -> float:
        """The factor on the loss gradient of training batch ``batch`` (its index in
        an epoch of ``last`` batches, None when unknown), of ``size`` samples:
        ``1 / grad_accum_steps``, so k accumulated batches of b step as one of k*b
        (the distributed loop also weighs each rank's share of the global batch)."""
        return 1.0 / self.grad_accum_steps

    def _apply_gradients(self) -> None:
        """Turn the accumulated ``Parameter.grad`` into one update: value clipping
        (a native pass), norm clipping (fused into the update kernel, or
        ``clip_grad_norm_`` for another optimizer), ``optimizer.step()``,
        ``optimizer.zero_grad()`` (the distributed loop averages the gradients
        across ranks first, or steps only its shard with ZeRO)."""
        params = None
        if self.clip_grad_value is not None:
            params = self.model.parameters()
            clip_grad_value_(params, self.clip_grad_value)
        if self.clip_grad_norm is not None and not self._fused_norm:
            clip_grad_norm_(params or self.model.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad()

    def _reduce_states(self, loss: BatchMean, metrics: MetricCollection) -> None:
        """Called before ``compute()`` of an epoch's (or a validation's) running loss
        and metrics; the distributed loop merges every rank's states here."""

    def _run_order(self, history: History | None, train_begin: bool = False) -> CallbackList:
        """The callbacks as a hook calls them (see :func:`run_order`)."""
        return run_order(self.callbacks, history, self, train_begin=train_begin)

    def _step_scheduler_on_epoch(self, logs: dict[str, Any]) -> None:
        if not self.plateau:
            self.scheduler.step()
            return
        if self.scheduler_monitor in logs:
            self.scheduler.step(logs[self.scheduler_monitor])
        elif not self.scheduler_monitor.startswith("val_") or "val_loss" in logs:
            raise KeyError(f"ReduceLROnPlateau monitors {self.scheduler_monitor!r}, which is "
                           f"not in the logs ({', '.join(sorted(logs))})")

    def _lr(self) -> float:
        """The lr of the epoch's last optimizer step (the current one before any step)."""
        lr = self.last_lr if self.last_lr is not None else self.optimizer.param_groups[0]["lr"]
        return float(lr)

    # ---- evaluation ---------------------------------------------------------
    def _validate(self, cbs: CallbackList, val_data: Iterable) -> dict[str, float]:
        cbs.on_validation_begin(None)
        values = run_evaluation(self.model, val_data, self.loss, self.val_metrics, cbs,
                                self._reduce_states)
        logs = {f"val_{k}": v for k, v in values.items()}
        cbs.on_validation_end(logs)
        return logs

    def evaluate(self, data: Iterable) -> dict[str, float]:
        """``{"loss": ..., metric: ...}`` of the model on ``data`` (inference mode),
        with fresh copies of the loop's metrics; no callbacks run."""
        return run_evaluation(self.model, data, self.loss, fresh_copy(self.metrics), None,
                              self._reduce_states)


def run_order(callbacks: CallbackList, history: History | None, loop: Any, *,
              train_begin: bool = False) -> CallbackList:
    """The callbacks as a run calls them: the list's order, then ``history``, then the
    callbacks that write checkpoints (``writes_checkpoints``, top level of the list),
    so a checkpoint holds every other callback's work for its batch or epoch
    (Lightning runs its checkpoint callbacks last for the same reason).  For
    ``on_train_begin`` (``train_begin=True``) those come first instead: a state one
    restores there (BackupAndRestore) is in place when the others begin."""
    writers = [cb for cb in callbacks if cb.writes_checkpoints]
    others = [cb for cb in callbacks if not cb.writes_checkpoints]
    if train_begin:
        ordered = CallbackList(writers + others)
    else:
        ordered = CallbackList(others + ([history] if history is not None else []) + writers)
    ordered.set_loop(loop)
    return ordered


def _is_plateau(scheduler: Any) -> bool:
    from ..schedulers import ReduceLROnPlateau
    return isinstance(scheduler, ReduceLROnPlateau) or type(scheduler).__name__ == \
        "ReduceLROnPlateau"


def _use_fused_norm(optimizer: Any, max_norm: float) -> bool:
    """Set ``max_grad_norm`` on every group of an odyssey optimizer (True), or leave a
    foreign optimizer alone (False: the loop calls ``clip_grad_norm_``)."""
    groups = optimizer.param_groups
    if not all("max_grad_norm" in g for g in groups):
        return False
    for g in groups:
        if g["max_grad_norm"] is not None and g["max_grad_norm"] != max_norm:
            raise ValueError(f"the optimizer already clips at max_grad_norm="
                             f"{g['max_grad_norm']}, the loop was given clip_grad_norm="
                             f"{max_norm}; set one of them")
    for g in groups:
        g["max_grad_norm"] = max_norm
    return True


def _positive(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    value = check_number(name, value)
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def _count(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _len(data: Any) -> int | None:
    try:
        return len(data)
    except TypeError:
        return None

