"""``ReduceLROnPlateau`` callback: lower the learning rate when a monitored quantity
stops improving (Keras 3's ``keras.callbacks.ReduceLROnPlateau``).

The scheduler of the same name (``odyssey_training.schedulers.ReduceLROnPlateau``)
keeps torch's semantics; this callback keeps Keras's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .monitor import MonitorCallback, check_int, check_number, continuing, say

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau(MonitorCallback):
    """Multiply every param group's ``lr`` by ``factor`` after ``patience`` epochs
    without improvement of ``monitor``.

    At the end of each epoch, with the monitored value ``v`` (Keras 3's rules)::

        logs["learning_rate"] = the first param group's lr (before any change)
        if cooldown_counter > 0: cooldown_counter -= 1; wait = 0
        if v improves on best (by more than min_delta): best = v; wait = 0
        elif cooldown_counter == 0:
            wait += 1
            if wait >= patience:
                for each group with lr > float32(min_lr): lr = max(lr * factor, min_lr)
                if any group was reduced: cooldown_counter = cooldown; wait = 0

    (``min_lr`` is compared in float32, as Keras does against its float32
    learning-rate variable.)  The new lr is written to ``group["lr"]`` of every
    param group of ``loop.optimizer``; a scheduler that also writes ``lr`` would
    override it, so use one or the other.

    Args:
        monitor: log key to watch (default ``"val_loss"``).
        factor: ``new_lr = lr * factor``, in ``[0, 1)``.
        patience: epochs without improvement before a reduction.
        verbose: 1 prints each reduction.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        min_delta: an improvement must exceed ``|min_delta|`` (default 1e-4).
        cooldown: epochs after a reduction during which ``wait`` stays 0.
        min_lr: lower bound on the learning rate.

    ``best``, ``wait`` and ``cooldown_counter`` are kept in ``state_dict()`` (the lr
    itself lives in the optimizer's state).
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        owner = type(self).__name__
        factor = check_number(owner, "factor", factor)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. "
                             f"Received factor={factor}")
        if factor < 0.0:
            raise ValueError(f"{owner}: factor must be >= 0, got {factor}")
        min_lr = check_number(owner, "min_lr", min_lr)
        if min_lr < 0.0:
            raise ValueError(f"{owner}: min_lr must be >= 0, got {min_lr}")
        self.factor, self.min_lr = factor, min_lr
        self.patience = check_int(owner, "patience", patience)
        self.verbose = check_int(owner, "verbose", verbose)
        self.cooldown = check_int(owner, "cooldown", cooldown)
        self._reset()

    def _reset(self) -> None:
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not continuing(self.loop):
            self._reset()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = {} if logs is None else logs
        groups = self.loop.optimizer.param_groups
        logs["learning_rate"] = float(groups[0]["lr"])
        current = self.get_monitor_value(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                named = len(groups) > 1
                reduced = [self._reduce(g, epoch, f"group {i}" if named else "")
                           for i, g in enumerate(groups)]
                if any(reduced):
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def _reduce(self, group: dict[str, Any], epoch: int, name: str) -> bool:
        old_lr = float(group["lr"])
        if not old_lr > np.float32(self.min_lr):
            return False
        new_lr = max(old_lr * self.factor, self.min_lr)
        group["lr"] = new_lr
        if self.verbose > 0:
            name_str = f" {name}" if name else ""
            say(self.loop, f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing{name_str} "
                           f"learning rate to {new_lr}.")
        return True

    # ---- state a resumed run needs -------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        owner = "ReduceLROnPlateau state"
        if not isinstance(state, dict):
            raise ValueError(f"{owner} must be a dict, got {type(state).__name__}")
        best = self._load_best(state)
        wait = check_int(owner, "wait", state.get("wait"))
        cooldown_counter = check_int(owner, "cooldown_counter", state.get("cooldown_counter"))
        self.best, self.wait, self.cooldown_counter = best, wait, cooldown_counter
