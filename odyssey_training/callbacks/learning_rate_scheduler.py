"""``LearningRateScheduler``: the lr of each epoch from a function, as Keras 3."""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable

import numpy as np

from .base import Callback

__all__ = ["LearningRateScheduler"]


class LearningRateScheduler(Callback):
    """At the start of each epoch, set the lr of every param group to
    ``schedule(epoch, lr)`` (``lr``: the first group's current lr), or to
    ``schedule(epoch)`` for a function of one argument, as Keras 3's callback.

    The schedule must return a real number (a float or NumPy float, as Keras; an int
    is accepted too) that is finite and ``>= 0``, else ValueError.  ``verbose=1``
    prints ``Epoch N: LearningRateScheduler setting learning rate to LR.`` (Keras's
    line).  The epoch's ``lr`` log holds the value it trained with.

    >>> from types import SimpleNamespace
    >>> def halve_after_two(epoch, lr):
    ...     return lr if epoch < 2 else lr * 0.5
    >>> cb = LearningRateScheduler(halve_after_two)
    >>> loop = SimpleNamespace(optimizer=SimpleNamespace(param_groups=[{"lr": 0.1}]))
    >>> cb.set_loop(loop)
    >>> for epoch in range(4):
    ...     cb.on_epoch_begin(epoch)
    >>> loop.optimizer.param_groups[0]["lr"]
    0.025
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        if not callable(schedule):
            raise TypeError(f"schedule must be callable, got {type(schedule).__name__}")
        if verbose not in (0, 1) or isinstance(verbose, bool):
            raise ValueError(f"verbose must be 0 or 1, got {verbose!r}")
        self.schedule, self.verbose = schedule, verbose
        self._two_args = _takes_two(schedule)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        groups = self.loop.optimizer.param_groups
        if self._two_args:
            lr = self.schedule(epoch, float(groups[0]["lr"]))
        else:
            lr = self.schedule(epoch)
        if isinstance(lr, (bool, np.bool_)) or not isinstance(
                lr, (int, float, np.integer, np.floating)):
            raise ValueError(f"the schedule must return a float, got {lr!r} at epoch {epoch}")
        lr = float(lr)
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f"the schedule returned lr={lr} at epoch {epoch}; it must be "
                             f"finite and >= 0")
        for group in groups:
            group["lr"] = lr
        if self.verbose and self.loop.is_global_zero:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")


def _takes_two(schedule: Callable[..., Any]) -> bool:
    """Whether ``schedule`` accepts ``(epoch, lr)`` (else it is called with ``epoch``)."""
    try:
        inspect.signature(schedule).bind(0, 0.0)
    except TypeError:
        return False
    except ValueError:          # no signature (some builtins): Keras's new API first
        return True
    return True
