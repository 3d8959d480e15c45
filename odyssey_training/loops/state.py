"""A training loop's resumable state: where it is, what it has accumulated, and
what the next ``fit`` must continue.

``state_dict()`` holds plain values and ndarrays only (a checkpoint stores the
arrays in safetensors and the rest as JSON):

* ``epoch``, ``batches_done``: the position (after a completed epoch: the next
  epoch and 0);
* ``global_step`` (optimizer steps), ``last_lr`` (the lr of the last one) and ``micro_step`` (batches accumulated
  towards the next step) with their ``grads`` when ``micro_step > 0``;
* ``epoch_state``: the running loss mean and the training metrics' states of an
  epoch in progress, so its logs come out as if never interrupted;
* ``history``, ``data`` (the training data's own ``state_dict``, e.g. an
  ``ArrayLoader``'s epoch and position), ``rng`` (NumPy's global generator,
  Python's ``random`` and torch's when torch is imported: see
  :func:`~odyssey_training.checkpoint.rng.get_rng_state`) and ``callbacks``
  (each stateful callback's state).

``load_state_dict`` checks everything before it changes anything.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checkpoint.rng import get_rng_state, set_rng_state
from .base import BatchMean

__all__ = ["LoopState"]

STATE_VERSION = 1


class LoopState:
    """Mixin of :class:`~odyssey_training.loops.BasicTrainingLoop`: position, counters,
    ``state_dict`` / ``load_state_dict`` and the resume bookkeeping ``fit`` uses."""

    def __init__(self) -> None:
        self.epoch = 0
        self.batches_done = 0
        self.global_step = 0
        self.micro_step = 0
        self.epoch_complete = False
        self.last_lr: float | None = None     # the lr of the last optimizer step
        self.loss_mean = BatchMean()
        self.data_state_applied = False
        self.epoch_logs: dict[str, Any] | None = None     # the logs on_epoch_end is given
        self._resume: dict[str, Any] | None = None

    # ---- saving -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        complete = self.epoch_complete
        params = self.model.parameters()
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "epoch": self.epoch + 1 if complete else self.epoch,
            "batches_done": 0 if complete else self.batches_done,
            "global_step": self.global_step,
            "micro_step": self.micro_step,
            "last_lr": self.last_lr,
            "grads": ([None if p.grad is None else p.grad.copy() for p in params]
                      if self.micro_step else None),
            "epoch_state": None if complete or not self.batches_done else {
                "loss": self.loss_mean.state_dict(), "metrics": self.metrics.state_dict()},
            "history": self._history_state(),
            "data": _data_state(self.train_data),
            "rng": get_rng_state(),
            "callbacks": {cb.state_key: cb.state_dict() for cb in self.callbacks.stateful()},
        }
        return state

    def _history_state(self) -> dict[str, Any]:
        """The history, with the finished epoch's logs when saved from ``on_epoch_end``
        (History is the last callback, so it has not recorded that epoch yet)."""
        state = self.history.state_dict()
        if self.epoch_complete and self.epoch_logs is not None \
                and state["epoch"][-1:] != [self.epoch]:
            state["epoch"].append(self.epoch)
            for key, value in self.epoch_logs.items():
                state["history"].setdefault(key, []).append(value)
        return state

    # ---- loading ------------------------------------------------------------
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the next ``fit`` continues from it."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError(f"not a training-loop state (version {STATE_VERSION}): "
                             f"{type(state).__name__}")
        counts = {k: state.get(k) for k in ("epoch", "batches_done", "global_step",
                                            "micro_step")}
        for key, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"loop state {key!r} must be an int >= 0, got {value!r}")
        last_lr = state.get("last_lr")
        if last_lr is not None and (isinstance(last_lr, bool)
                                    or not isinstance(last_lr, (int, float))):
            raise ValueError(f"loop state 'last_lr' must be a number or None, got {last_lr!r}")
        grads = state.get("grads")
        params = self.model.parameters()
        if grads is not None:
            if not isinstance(grads, list) or len(grads) != len(params):
                raise ValueError(f"loop state holds {len(grads or [])} accumulated gradients, "
                                 f"the model has {len(params)} parameters")
            for i, (g, p) in enumerate(zip(grads, params)):
                if g is not None and (np.shape(g) != p.data.shape
                                      or np.asarray(g).dtype != p.data.dtype):
                    raise ValueError(f"accumulated gradient {i} does not match its parameter "
                                     f"({np.shape(g)} vs {p.data.shape})")
        # stateful pieces validate themselves; snapshot them so a failure changes nothing
        snapshot = (self.history.state_dict(), self.metrics.state_dict(),
                    self.loss_mean.state_dict(), get_rng_state(),
                    {cb.state_key: cb.state_dict() for cb in self.callbacks.stateful()})
        try:
            self.history.load_state_dict(state["history"])
            epoch_state = state.get("epoch_state")
            if epoch_state is not None:
                self.loss_mean.load_state_dict(epoch_state["loss"])
                self.metrics.load_state_dict(epoch_state["metrics"])
            set_rng_state(state["rng"])
            saved = state.get("callbacks") or {}
            for cb in self.callbacks.stateful():
                if cb.state_key in saved:
                    cb.load_state_dict(saved[cb.state_key])
        except (KeyError, TypeError, ValueError) as exc:
            self.history.load_state_dict(snapshot[0])
            self.metrics.load_state_dict(snapshot[1])
            self.loss_mean.load_state_dict(snapshot[2])
            set_rng_state(snapshot[3])
            for cb in self.callbacks.stateful():
                if cb.state_key in snapshot[4]:
                    cb.load_state_dict(snapshot[4][cb.state_key])
            raise ValueError(f"loop state does not load: {exc}") from exc
        if grads is not None:
            for g, p in zip(grads, params):
                p.grad = None if g is None else np.array(g, dtype=p.data.dtype, order="C")
        self.epoch, self.batches_done = int(counts["epoch"]), int(counts["batches_done"])
        self.global_step, self.micro_step = int(counts["global_step"]), int(counts["micro_step"])
        self.epoch_complete = False
        self.last_lr = None if last_lr is None else float(last_lr)
        self._resume = {"epoch": self.epoch, "batches_done": self.batches_done,
                        "epoch_state": epoch_state is not None, "data": state.get("data")}

    # ---- what fit asks ------------------------------------------------------
    def resume_point(self) -> tuple[int, int] | None:
        """(epoch, batches done in it) of a restored state not yet continued, else None."""
        if self._resume is None:
            return None
        return self._resume["epoch"], self._resume["batches_done"]

    def restored_epoch_state(self) -> bool:
        """Whether a restored state brought the running metrics of its epoch."""
        return self._resume is not None and self._resume["epoch_state"]

    def apply_data_state(self, data: Any) -> None:
        """Give ``data`` its restored position (``data.load_state_dict``), if any."""
        self.data_state_applied = False
        if self._resume is None or self._resume["data"] is None:
            return
        loader_load = getattr(data, "load_state_dict", None)
        if callable(loader_load):
            loader_load(self._resume["data"])
            self.data_state_applied = True

    def finish_fit(self) -> None:
        """A restored state has been continued; the next fit starts fresh."""
        self._resume = None


def _data_state(data: Any) -> Any:
    save = getattr(data, "state_dict", None)
    return save() if callable(save) else None
