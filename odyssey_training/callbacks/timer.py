"""``Timer``: stop training when a wall-clock budget is spent (Lightning's ``Timer``)."""

from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import Any, Callable

from .base import Callback

__all__ = ["Timer"]


class Timer(Callback):
    """Measure the training time and set ``loop.stop_training`` once it reaches
    ``duration``, checked after every training batch (``interval="step"``) or every
    epoch (``interval="epoch"``), as Lightning's ``Timer``.  The run then ends the
    way any stop does: after the current batch, with the epoch's logs and
    ``on_epoch_end`` (Keras's stop semantics).

    ``duration`` is seconds (a number), a ``"DD:HH:MM:SS"`` string, a
    ``datetime.timedelta`` or a dict of ``timedelta`` arguments (``{"hours": 2}``), or
    None to only measure.  The time runs from ``on_train_begin`` to ``on_train_end``;
    ``state_dict()`` holds the time elapsed, so a run resumed from a checkpoint counts
    the time already spent against the budget (Lightning's offset).

    Args:
        duration: the budget (see above).
        interval: ``"step"`` or ``"epoch"``.
        verbose: print a line when the budget is spent (on ``loop.is_global_zero``).
        clock: seconds from a monotonic clock; default ``time.monotonic``.

    >>> Timer("00:12:00:00").duration == 12 * 3600.0
    True
    """

    def __init__(self, duration: float | str | timedelta | dict[str, float] | None = None,
                 interval: str = "step", verbose: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if interval not in ("step", "epoch"):
            raise ValueError(f"interval must be 'step' or 'epoch', got {interval!r}")
        if not callable(clock):
            raise TypeError(f"clock must be callable, got {type(clock).__name__}")
        self.duration = _seconds(duration)
        self.interval, self.verbose, self.clock = interval, bool(verbose), clock
        self._start: float | None = None
        self._end: float | None = None
        self._offset = 0.0          # seconds spent by the run before it was resumed

    def time_elapsed(self) -> float:
        """Seconds of training so far (including a resumed run's earlier time)."""
        if self._start is None:
            return self._offset
        end = self.clock() if self._end is None else self._end
        return end - self._start + self._offset

    def time_remaining(self) -> float | None:
        """Seconds left of ``duration`` (negative once over it), None without one."""
        return None if self.duration is None else self.duration - self.time_elapsed()

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._start, self._end = self.clock(), None

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._end = self.clock()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.interval == "step":
            self._check()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.interval == "epoch":
            self._check()

    def _check(self) -> None:
        if self.duration is None:
            return
        elapsed = self.time_elapsed()
        if elapsed >= self.duration:
            if self.verbose and not self.loop.stop_training and self.loop.is_global_zero:
                print(f"Time limit reached. Elapsed time is "
                      f"{timedelta(seconds=int(elapsed))}. Signaling the loop to stop.")
            self.loop.stop_training = True

    def state_dict(self) -> dict[str, Any]:
        return {"time_elapsed": self.time_elapsed()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        value = state.get("time_elapsed") if isinstance(state, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0:
            raise ValueError(f"a Timer state is {{'time_elapsed': seconds >= 0}}, got {state!r}")
        self._offset = float(value)


def _seconds(duration: Any) -> float | None:
    """``duration`` in seconds (see :class:`Timer`), checked."""
    if duration is None:
        return None
    if isinstance(duration, str):
        parts = duration.strip().split(":")
        if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"a duration string is 'DD:HH:MM:SS' (e.g. '00:12:00:00'), "
                             f"got {duration!r}")
        days, hours, minutes, seconds = (int(p) for p in parts)
        duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    elif isinstance(duration, dict):
        try:
            duration = timedelta(**duration)
        except TypeError as exc:
            raise ValueError(f"a duration dict holds timedelta arguments (days, hours, "
                             f"minutes, seconds, ...): {exc}") from None
    if isinstance(duration, timedelta):
        value = duration.total_seconds()
    elif isinstance(duration, (int, float)) and not isinstance(duration, bool):
        value = float(duration)
    else:
        raise TypeError(f"duration must be seconds, 'DD:HH:MM:SS', a timedelta or a dict, "
                        f"got {type(duration).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"duration must be > 0 seconds, got {value}")
    return value
