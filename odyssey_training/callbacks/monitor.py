"""``MonitorCallback``: the monitored quantity, its direction and the best value so
far, shared by EarlyStopping, ReduceLROnPlateau and ModelCheckpoint (Keras 3's
``MonitorCallback``).

An epoch *improves* on a reference value ``ref`` when, with ``d = |min_delta|``::

    mode "min":  current + d < ref          mode "max":  current - d > ref

(Keras 3 writes both as ``op(current - signed_delta, ref)``; the arithmetic is
the same.)  ``mode="auto"`` picks "min" for ``loss``/``val_loss`` and otherwise
reads the direction of the loop's metric of that name (``Metric.higher_is_better``);
a quantity whose direction is unknown is an error asking for ``mode``, as in
Keras 3.  Unlike Keras, an unknown ``mode`` is an error (not a warning), and so
is a monitored key missing from the logs, except a ``val_`` key in an epoch
without validation (``validate_every > 1``): that epoch is skipped.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from .base import Callback

__all__ = ["MonitorCallback", "MODES", "continuing", "say", "check_int", "check_number"]

MODES = ("auto", "min", "max")


def check_number(owner: str, name: str, value: Any) -> float:
    """``value`` as a finite float, or a ValueError/TypeError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be finite, got {value}")
    return value


def check_int(owner: str, name: str, value: Any, low: int = 0) -> int:
    """``value`` as an int >= ``low``, or a ValueError/TypeError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{owner}: {name} must be >= {low}, got {value}")
    return int(value)


def continuing(loop: Any) -> bool:
    """Whether ``loop`` is about to continue a restored state (a resumed ``fit``):
    callbacks then keep the state the loop restored instead of resetting it."""
    point = getattr(loop, "resume_point", None)
    return callable(point) and point() is not None


def say(loop: Any, message: str) -> None:
    """Print a verbose message, only on the process that writes (``is_global_zero``)."""
    if getattr(loop, "is_global_zero", True):
        print(message, flush=True)


class MonitorCallback(Callback):
    """Base of the callbacks that watch one logged quantity.

    Args:
        monitor: the log key to watch (``"val_loss"``, ``"loss"``, ``"val_acc"``, ...).
        mode: ``"min"``, ``"max"`` or ``"auto"`` (see the module docstring).
        baseline: the initial :attr:`best` (None: the first value seen is the best).
        min_delta: an improvement must beat the reference by more than ``|min_delta|``.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto",
                 baseline: float | None = None, min_delta: float = 0) -> None:
        owner = type(self).__name__
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"{owner}: monitor must be a non-empty log key, got {monitor!r}")
        if mode not in MODES:
            raise ValueError(f"{owner}: mode must be one of {', '.join(map(repr, MODES))}, "
                             f"got {mode!r}")
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(check_number(owner, "min_delta", min_delta))
        self.best: float | None = (None if baseline is None
                                   else check_number(owner, "baseline", baseline))
        self._lower: bool | None = None        # True: smaller is better; resolved lazily
        if mode != "auto" or monitor.removeprefix("val_") == "loss":
            self._lower = self._direction_lower()

    @property
    def state_key(self) -> str:
        return f"{type(self).__name__}[{self.monitor}]"

    @property
    def lower_is_better(self) -> bool:
        """The resolved direction ("auto" is decided on first use, from the loop's
        metrics, as Keras does after the model's metrics are built)."""
        if self._lower is None:
            self._lower = self._direction_lower()
        return self._lower

    def _direction_lower(self) -> bool:
        if self.mode != "auto":
            return self.mode == "min"
        name = self.monitor.removeprefix("val_")
        if name == "loss":
            return True
        metrics = getattr(self.loop, "metrics", None)
        try:
            metric = metrics[name] if metrics is not None else None
        except (KeyError, TypeError):
            metric = None
        higher = getattr(metric, "higher_is_better", None)
        if higher is None:
            raise ValueError(
                f"{type(self).__name__} callback received monitor={self.monitor}, but "
                "cannot determine whether that metric should be maximized or minimized. "
                "Pass mode='max' in order to monitor based on the highest metric value, "
                "or pass mode='min' in order to use the lowest value.")
        return not higher

    def _is_improvement(self, current: float, reference: float | None) -> bool:
        """Keras 3's ``_is_improvement``: True when ``reference`` is None (the
        direction is resolved on the first call either way, as Keras does)."""
        lower = self.lower_is_better
        if reference is None:
            return True
        if lower:
            return current + self.min_delta < reference
        return current - self.min_delta > reference

    def get_monitor_value(self, logs: dict[str, Any] | None) -> float | None:
        """The monitored value from ``logs``; None for a ``val_`` key in an epoch that
        did not validate; a KeyError listing the available keys otherwise."""
        logs = logs or {}
        if self.monitor in logs:
            return float(logs[self.monitor])
        if self.monitor.startswith("val_") and not any(k.startswith("val_") for k in logs):
            return None
        raise KeyError(f"{type(self).__name__} monitors {self.monitor!r}, which is not in "
                       f"the logs; available: {', '.join(sorted(logs)) or '(none)'}")

    # ---- state a resumed run needs ------------------------------------------
    def _load_best(self, state: dict[str, Any]) -> float | None:
        best = state.get("best")
        if best is None:
            return None
        if isinstance(best, bool) or not isinstance(best, numbers.Real):
            raise ValueError(f"{type(self).__name__} state: best must be a number or None, "
                             f"got {best!r}")
        return float(best)
