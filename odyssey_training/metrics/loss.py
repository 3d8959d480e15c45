r"""``LossTracker``: running statistics of a stream of loss values.

For values :math:`x_1, \dots, x_n` with integer weights :math:`w_i` (a batch
mean stands for its batch size):

.. math::

    W_n = \sum_i w_i, \qquad \bar x_n = \bar x_{n-1} + \frac{w_n}{W_n}(x_n - \bar x_{n-1}),

    M_n = M_{n-1} + w_n (x_n - \bar x_{n-1})(x_n - \bar x_n), \qquad
    \operatorname{var} = \frac{M_n}{W_n - \text{ddof}}

(Welford's update, exact for repeated values), ``min``/``max`` of the values,
``last`` value and an exponential moving average
:math:`e_n = \beta e_{n-1} + (1 - \beta) x_n` with :math:`e_1 = x_1`
(``beta = ema_decay``).  ``merge`` combines two trackers with Chan et al.'s
parallel formula, :math:`M = M_a + M_b + \delta^2 W_a W_b / W` with
:math:`\delta = \bar x_b - \bar x_a`, exact up to rounding;
``last`` and ``ema`` describe one stream, so a merge keeps this tracker's
(or takes the other's when this one is empty).

A NaN loss propagates (mean, min, max, variance become NaN), so a diverged run is
visible; ``compute()`` (the mean) is NaN before any value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import Metric

__all__ = ["LossTracker"]

_FIELDS = ("count", "mean", "m2", "min", "max", "last", "ema")


class LossTracker(Metric):
    """Mean, last, EMA, min/max, count and variance of loss values.

    >>> t = LossTracker(ema_decay=0.5)
    >>> for loss in (4.0, 2.0, 3.0):
    ...     t.update(loss)
    >>> t.compute(), t.last, t.ema, t.min, t.max, t.count, t.var()
    (3.0, 3.0, 3.0, 2.0, 4.0, 3, 0.6666666666666666)
    """

    higher_is_better = False

    def __init__(self, ema_decay: float = 0.9) -> None:
        ema_decay = float(ema_decay)
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
        self.ema_decay = ema_decay
        self.reset()

    def reset(self) -> None:
        self.count = 0                      # total weight W_n
        self.mean = math.nan                # running mean
        self.m2 = 0.0                       # sum of squared deviations M_n
        self.min = math.inf
        self.max = -math.inf
        self.last = math.nan
        self.ema = math.nan

    def update(self, value: Any, targets: Any = None, *, weight: int = 1) -> None:
        """Add a loss: a number (counted ``weight`` times, e.g. a batch mean with
        ``weight=batch_size``) or a 1-D array of per-sample losses (each counted
        once; ``weight`` must then be 1).  ``targets`` is ignored (it lets a
        collection pass ``(preds, targets)``-style calls)."""
        if isinstance(weight, bool) or not isinstance(weight, (int, np.integer)) or weight < 1:
            raise ValueError(f"weight must be an int >= 1, got {weight!r}")
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim == 0:
            self._add(float(arr), int(weight))
        elif arr.ndim == 1:
            if weight != 1:
                raise ValueError("weight applies to a single value, not to an array of losses")
            if arr.size:
                self._add_batch(arr)
        else:
            raise ValueError(f"a loss is a number or a 1-D array, got shape {arr.shape}")

    def _update(self, preds: Any, targets: Any) -> None:
        self.update(preds)

    def _add(self, x: float, w: int) -> None:
        total = self.count + w
        if self.count == 0:
            self.mean, self.m2, self.ema = x, 0.0, x
        else:
            delta = x - self.mean
            self.mean += delta * w / total
            self.m2 += w * delta * (x - self.mean)
            self.ema = self.ema_decay * self.ema + (1.0 - self.ema_decay) * x
        self.count = total
        self.min, self.max = _fmin(self.min, x), _fmax(self.max, x)
        self.last = x

    def _add_batch(self, arr: np.ndarray) -> None:
        """Chan's combination with the batch's own (count, mean, M2)."""
        n, mean = arr.size, float(arr.mean())
        other = {"count": n, "mean": mean, "m2": float(((arr - mean) ** 2).sum()),
                 "min": float(arr.min()), "max": float(arr.max())}
        beta = self.ema_decay
        powers = beta ** np.arange(n - 1, -1, -1, dtype=np.float64)   # beta^(n-1-i)
        if self.count == 0:  # e_1 = x_1, then the recursion over the rest
            ema = float(powers[0] * arr[0] + (1.0 - beta) * (powers[1:] @ arr[1:]))
        else:
            ema = float(beta ** n * self.ema + (1.0 - beta) * (powers @ arr))
        self._combine(other)
        self.ema, self.last = ema, float(arr[-1])

    def _combine(self, other: dict[str, Any]) -> None:
        if other["count"] == 0:
            return
        if self.count == 0:
            self.count, self.mean, self.m2 = other["count"], other["mean"], other["m2"]
        else:
            total = self.count + other["count"]
            delta = other["mean"] - self.mean
            self.mean += delta * other["count"] / total
            self.m2 += other["m2"] + delta * delta * self.count * other["count"] / total
            self.count = total
        self.min, self.max = _fmin(self.min, other["min"]), _fmax(self.max, other["max"])

    def compute(self) -> float:
        """The (weighted) mean of every loss since the last reset."""
        return self.mean

    def var(self, ddof: int = 0) -> float:
        """Variance ``M / (W - ddof)`` (NaN when ``W <= ddof``)."""
        return self.m2 / (self.count - ddof) if self.count > ddof else math.nan

    def std(self, ddof: int = 0) -> float:
        return math.sqrt(self.var(ddof))

    def summary(self) -> dict[str, float]:
        """Every statistic by name (for logs)."""
        return {"mean": self.mean, "last": self.last, "ema": self.ema, "min": self.min,
                "max": self.max, "count": self.count, "std": self.std()}

    def config(self) -> dict[str, Any]:
        return {"ema_decay": self.ema_decay}

    def _get_state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}

    def _set_state(self, state: dict[str, Any]) -> None:
        if set(state) != set(_FIELDS):
            raise ValueError(f"state must have the keys {sorted(_FIELDS)}, got {sorted(state)}")
        count = state["count"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be an int >= 0, got {count!r}")
        values = {k: float(state[k]) for k in _FIELDS if k != "count"}
        if values["m2"] < 0:
            raise ValueError("m2 (sum of squared deviations) must be >= 0")
        self.count = count
        for k, v in values.items():
            setattr(self, k, v)

    def _merge_state(self, other: Metric) -> None:
        if self.count == 0:
            self.last, self.ema = other.last, other.ema
        self._combine({k: getattr(other, k) for k in ("count", "mean", "m2", "min", "max")})


def _fmin(a: float, b: float) -> float:
    return math.nan if math.isnan(a) or math.isnan(b) else min(a, b)


def _fmax(a: float, b: float) -> float:
    return math.nan if math.isnan(a) or math.isnan(b) else max(a, b)
