"""``LRSchedulerCallback``: step a learning-rate scheduler from a callback."""

from __future__ import annotations

from typing import Any

from .base import Callback

__all__ = ["LRSchedulerCallback"]


class LRSchedulerCallback(Callback):
    """Step ``scheduler`` (an ``odyssey_training.schedulers`` scheduler, a torch
    ``lr_scheduler``, anything with ``step()``) once per epoch or once per optimizer
    step, for a loop built without ``scheduler=``.

    The steps fall where the loop's own ``scheduler=`` would step it, so the lrs are
    the same either way:

    * ``interval="epoch"``: at the end of each epoch (after validation; the epoch's
      ``lr`` log is the lr it trained with);
    * ``interval="step"``: after each optimizer step (an ``on_train_batch_end`` at
      which ``loop.global_step`` has moved; with ``grad_accum_steps=k`` that is every
      k-th batch).

    A ``ReduceLROnPlateau`` scheduler (``interval="epoch"`` only) is stepped with
    ``logs[monitor]``; an epoch without that key is skipped when it had no validation
    (``monitor`` is a ``val_`` key and ``val_loss`` is absent), else it is an error
    listing the logs.

    ``state_dict()`` holds the scheduler's, so a loop checkpoint resumes the schedule.

    Args:
        scheduler: what to step.
        interval: ``"epoch"`` or ``"step"``.
        monitor: the log a ReduceLROnPlateau scheduler is fed.
        key: this callback's :attr:`state_key` (default ``"LRSchedulerCallback"``);
            two instances in one loop need distinct keys.
    """

    def __init__(self, scheduler: Any, interval: str = "epoch", monitor: str = "val_loss",
                 key: str | None = None) -> None:
        if not callable(getattr(scheduler, "step", None)):
            raise TypeError(f"scheduler {type(scheduler).__name__} has no step()")
        if interval not in ("epoch", "step"):
            raise ValueError(f"interval must be 'epoch' or 'step', got {interval!r}")
        self.plateau = _is_plateau(scheduler)
        if self.plateau and interval == "step":
            raise ValueError("a ReduceLROnPlateau scheduler steps on epoch logs: use "
                             "interval='epoch'")
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a log key (str), got {monitor!r}")
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor
        self.key = key
        self._seen_step = 0

    @property
    def state_key(self) -> str:
        return self.key or type(self).__name__

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._seen_step = self.loop.global_step

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.interval != "step":
            return
        step = self.loop.global_step
        if step != self._seen_step:
            self._seen_step = step
            self.scheduler.step()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.interval != "epoch":
            return
        logs = logs or {}
        if not self.plateau:
            self.scheduler.step()
        elif self.monitor in logs:
            self.scheduler.step(logs[self.monitor])
        elif not self.monitor.startswith("val_") or "val_loss" in logs:
            raise KeyError(f"ReduceLROnPlateau monitors {self.monitor!r}, which is not in "
                           f"the logs ({', '.join(sorted(logs))})")

    def state_dict(self) -> dict[str, Any]:
        save = getattr(self.scheduler, "state_dict", None)
        return {"scheduler": save() if callable(save) else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or "scheduler" not in state:
            raise ValueError("an LRSchedulerCallback state is {'scheduler': ...}")
        if state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])


def _is_plateau(scheduler: Any) -> bool:
    """An odyssey or torch ReduceLROnPlateau (it steps on a metric)."""
    from ..schedulers import ReduceLROnPlateau
    return isinstance(scheduler, ReduceLROnPlateau) or \
        type(scheduler).__name__ == "ReduceLROnPlateau"
