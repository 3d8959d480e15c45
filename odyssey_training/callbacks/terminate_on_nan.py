"""``TerminateOnNaN``: stop training at a NaN or infinite batch loss (Keras 3's
``keras.callbacks.TerminateOnNaN``)."""

from __future__ import annotations

import math
from typing import Any

from .base import Callback
from .monitor import say

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """After each training batch whose ``loss`` is NaN or ±inf: print
    ``"Batch {batch}: Invalid loss, terminating training"`` and set
    ``loop.stop_training`` (the epoch still ends, with its logs and
    ``on_epoch_end``, then ``on_train_end`` runs), or, with ``raise_error=True``,
    raise ``RuntimeError`` at once, so no other callback's ``on_train_end`` runs
    (a ``BackupAndRestore`` backup then survives for a rerun).

    >>> class Loop: stop_training = False; is_global_zero = True
    >>> cb = TerminateOnNaN(); cb.set_loop(Loop())
    >>> cb.on_train_batch_end(0, {"loss": 0.5}); cb.loop.stop_training
    False
    >>> cb.on_train_batch_end(1, {"loss": float("nan")}); cb.loop.stop_training
    Batch 1: Invalid loss, terminating training
    True
    """

    def __init__(self, raise_error: bool = False) -> None:
        if not isinstance(raise_error, bool):
            raise TypeError(f"TerminateOnNaN: raise_error must be a bool, got {raise_error!r}")
        self.raise_error = raise_error

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. "
                               f"Loss value: {loss}. Terminating training immediately.")
        say(self.loop, f"Batch {batch}: Invalid loss, terminating training")
        self.loop.stop_training = True
