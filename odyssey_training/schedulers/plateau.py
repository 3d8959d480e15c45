"""ReduceLROnPlateau: cut the lr when a monitored metric stops improving.

This schedule depends on the metric values, not on the step count alone, so it has
no ``lr_at(step)``; its exact resume comes from saving every counter and the last
lrs in ``state_dict`` (and ``load_state_dict`` writing those lrs back).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, SupportsFloat

from ._args import check_choice, check_int, check_number, per_group
from .base import OptimizerLike, check_state, param_groups_of


class ReduceLROnPlateau:
    r"""Multiply the lr by ``factor`` after ``patience`` steps without improvement.

    A value :math:`a` improves on the best :math:`b` when (``mode``, ``threshold_mode``):
    min/rel :math:`a < b(1 - \theta)`; min/abs :math:`a < b - \theta`; max/rel
    :math:`a > b(1 + \theta)`; max/abs :math:`a > b + \theta`, with :math:`\theta` =
    ``threshold``.  Each ``step(metric)`` that does not improve counts a bad step
    (bad steps are not counted during ``cooldown`` steps after a cut).  When the count
    exceeds ``patience``, each group's lr becomes :math:`\max(\eta \cdot
    \text{factor}, \text{min\_lr})`, unless that changes it by no more than ``eps``.
    The lr is read from the group, so it composes with other schedules as in torch.

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        mode: ``"min"`` or ``"max"``.  Default ``"min"``.
        factor: the cut, in [0, 1).  Default 0.1.
        patience: bad steps tolerated before a cut, >= 0.  Default 10.
        threshold: what counts as an improvement, >= 0.  Default 1e-4.
        threshold_mode: ``"rel"`` or ``"abs"``.  Default ``"rel"``.
        cooldown: steps after a cut during which bad steps are ignored, >= 0.  Default 0.
        min_lr: lower bound, >= 0, one value or one per group.  Default 0.
        eps: smallest lr change applied, >= 0.  Default 1e-8.
    """

    _fields = (
        "mode",
        "factor",
        "patience",
        "threshold",
        "threshold_mode",
        "cooldown",
        "min_lrs",
        "default_min_lr",
        "eps",
        "last_epoch",
        "best",
        "num_bad_epochs",
        "cooldown_counter",
        "_last_lr",
    )

    def __init__(
        self,
        optimizer: OptimizerLike,
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: Literal["rel", "abs"] = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0.0,
        eps: float = 1e-8,
    ) -> None:
        groups = param_groups_of(optimizer)
        self.mode = check_choice("mode", mode, ("min", "max"))
        self.factor = check_number("factor", factor, minimum=0.0, below=1.0)
        self.patience = check_int("patience", patience, minimum=0)
        self.threshold = check_number("threshold", threshold, minimum=0.0)
        self.threshold_mode = check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = check_int("cooldown", cooldown, minimum=0)
        self.min_lrs = per_group(
            "min_lr", min_lr, len(groups), lambda name, v: check_number(name, v, minimum=0.0)
        )
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else self.min_lrs[0]
        self.eps = check_number("eps", eps, minimum=0.0)
        self.optimizer = optimizer
        self.last_epoch = 0
        self.best = self.mode_worse
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = [float(g["lr"]) for g in groups]

    @property
    def mode_worse(self) -> float:
        """The starting ``best``: +inf in min mode, -inf in max mode."""
        return math.inf if self.mode == "min" else -math.inf

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, a: float, best: float) -> bool:
        """Whether metric ``a`` improves on ``best`` under ``mode`` / ``threshold_mode``."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics: SupportsFloat, epoch: int | None = None) -> None:
        """Record one value of the monitored metric; cut the lr if it has plateaued."""
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else check_int("epoch", epoch)
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise ValueError(
                    f"min_lr has {len(self.min_lrs)} values but the optimizer now has "
                    f"{len(groups)} param groups"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, floor in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, floor)
            if old - new > self.eps:
                group["lr"] = new

    def get_last_lr(self) -> list[float]:
        """The learning rates after the last ``step``, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Every counter, the best value and the last lrs (JSON-friendly; ``best`` may be inf)."""
        state: dict[str, Any] = {"scheduler": type(self).__name__}
        for name in self._fields:
            value = getattr(self, name)
            state[name] = list(value) if isinstance(value, list) else value
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()`` and write its lrs back into the optimizer."""
        check_state(self, state_dict, self._fields)
        for name in self._fields:
            value = state_dict[name]
            setattr(self, name, list(value) if isinstance(value, (list, tuple)) else value)
        self.best = float(self.best)
        for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
            group["lr"] = lr
