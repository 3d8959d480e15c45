"""Cosine schedules: CosineAnnealingLR, CosineAnnealingWarmRestarts and WarmupCosine."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

from ._args import check_int, check_number, per_group
from .base import LRScheduler, OptimizerLike, param_groups_of


def _bump(step: float, period: float) -> float:
    """``1 + cos(pi * step / period)``, evaluated as torch evaluates it."""
    return 1 + math.cos(math.pi * step / period)


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from the base lr to ``eta_min`` over ``T_max`` steps (SGDR, no restarts).

    .. math:: \eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
              \left(1 + \cos\frac{\pi t}{T_{\max}}\right)

    Past ``T_max`` the curve keeps following the cosine (back up to :math:`\eta_0`
    at :math:`2T_{\max}`, and so on), as torch's does.

    torch 2.x evaluates this recursively, :math:`\eta_t - \eta_{\min} = (\eta_{t-1} -
    \eta_{\min})\, b(t) / b(t-1)` with :math:`b(t) = 1 + \cos(\pi t / T_{\max})`,
    restarting each rising half at :math:`t = T_{\max} + 1 + 2kT_{\max}` from
    :math:`\eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})(1 - \cos(\pi / T_{\max}))`.
    The product telescopes to the formula above; in floating point the two differ by
    rounding only (below 1e-12 relative over three half periods for ``T_max`` up to
    30000).  ``lr_at`` uses the closed form; ``_recursive_lr`` is torch's rule, used
    when this schedule is chained.

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        T_max: half period in steps, > 0 (a fractional period works, as in torch).
        eta_min: the floor of the cosine, >= 0.  Default 0.
        last_epoch: index of the last step; -1 starts a new schedule.
    """

    _fields = ("T_max", "eta_min")

    def __init__(
        self, optimizer: OptimizerLike, T_max: float, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        T_max = check_number("T_max", T_max, above=0.0)
        self.T_max: int | float = int(T_max) if T_max.is_integer() else T_max
        self.eta_min = check_number("eta_min", eta_min, minimum=0.0)
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, step: int) -> list[float]:
        eta, half = self.eta_min, _bump(step, self.T_max) / 2
        return [eta + (base - eta) * half for base in self.base_lrs]

    def _recursive_lr(self, step: int, lrs: list[float]) -> list[float]:
        T, eta = self.T_max, self.eta_min
        if step == 0:
            return list(lrs)
        if (step - 1 - T) % (2 * T) == 0:
            rise = (1 - math.cos(math.pi / T)) / 2
            return [lr + (base - eta) * rise for lr, base in zip(lrs, self.base_lrs)]
        ratio = _bump(step, T) / _bump(step - 1, T)
        return [ratio * (lr - eta) + eta for lr in lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    r"""Cosine annealing with warm restarts (SGDR), cycles growing by ``T_mult``.

    .. math:: \eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
              \left(1 + \cos\frac{\pi T_{cur}}{T_i}\right)

    Cycle :math:`i` lasts :math:`T_i = T_0 T_{mult}^i` steps and starts at
    :math:`S_i = T_0 (T_{mult}^i - 1) / (T_{mult} - 1)` (:math:`i T_0` when
    :math:`T_{mult} = 1`); :math:`T_{cur} = t - S_i` for the cycle holding :math:`t`.
    The cycle is found with exact integer arithmetic, so a step that starts a cycle
    always gets :math:`\eta_0` (torch's ``step(epoch)`` uses a float logarithm and can
    land one cycle early there, e.g. ``T_0=1, T_mult=3, epoch=121``).

    ``lr_at`` and ``step(epoch)`` accept fractional epochs (``step(epoch + i / iters)``
    inside an epoch).  After ``step(e)``, a plain ``step()`` moves to ``e + 1``, as torch.

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        T_0: length of the first cycle, a positive integer.
        T_mult: growth factor of the cycle length, an integer >= 1.  Default 1.
        eta_min: the floor of the cosine, >= 0.  Default 0.
        last_epoch: index of the last step; -1 starts a new schedule.
    """

    _fields = ("T_0", "T_mult", "eta_min", "epoch")

    def __init__(
        self,
        optimizer: OptimizerLike,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        self.T_0 = check_int("T_0", T_0, minimum=1)
        self.T_mult = check_int("T_mult", T_mult, minimum=1)
        self.eta_min = check_number("eta_min", eta_min, minimum=0.0)
        self.epoch: float = float(last_epoch)  # position on the schedule (fractional after step(e))
        super().__init__(optimizer, last_epoch)

    def cycle_at(self, epoch: float) -> tuple[float, int]:
        """``(T_cur, T_i)`` at ``epoch``: the position inside its cycle and that cycle's length."""
        if self.T_mult == 1:
            return epoch % self.T_0, self.T_0
        start, length = 0, self.T_0
        while epoch >= start + length:
            start += length
            length *= self.T_mult
        return epoch - start, length

    @property
    def T_cur(self) -> float:
        """Steps since the last restart (torch's attribute)."""
        return self.cycle_at(self.epoch)[0]

    @property
    def T_i(self) -> int:
        """Length of the current cycle (torch's attribute)."""
        return self.cycle_at(self.epoch)[1]

    def lr_at(self, step: float) -> list[float]:  # type: ignore[override]
        """The learning rate of every param group at ``step``, which may be fractional."""
        return self._lr_at(_check_epoch("step", step))

    def _lr_at(self, step: float) -> list[float]:  # type: ignore[override]
        t_cur, t_i = self.cycle_at(step)
        eta = self.eta_min
        return [
            eta + (base - eta) * (1 + math.cos(math.pi * t_cur / t_i)) / 2 for base in self.base_lrs
        ]

    def step(self, epoch: float | None = None) -> None:  # type: ignore[override]
        """Advance one step, or move to ``epoch`` (which may be fractional)."""
        if epoch is not None:
            position = _check_epoch("epoch", epoch)
        elif self.last_epoch < 0:
            position = 0.0
        else:
            position = self.epoch + 1
        lrs = self._lr_at(position)
        self.epoch = position
        self._commit(math.floor(position), lrs, None)

    def _on_load(self) -> None:
        self.epoch = float(self.epoch)


def _check_epoch(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return float(value)


class WarmupCosine(LRScheduler):
    r"""Linear warmup to the base lr, then cosine decay to a floor ``eta_min``.

    .. math:: \eta_t = \begin{cases}
        \eta_0 \left(s + (1 - s)\,\frac{t}{W}\right) & t < W \\
        \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
            \left(1 + \cos\frac{\pi (t - W)}{T - W}\right) & W \le t \le T \\
        \eta_{\min} & t > T \end{cases}

    with :math:`W` = ``warmup_steps``, :math:`T` = ``total_steps``, :math:`s` =
    ``warmup_start_factor``.  With ``s = 0`` and ``eta_min = 0`` this is the common
    ``get_cosine_schedule_with_warmup`` recipe, held at the floor after ``T``.

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        warmup_steps: length of the linear warmup, >= 0.
        total_steps: step at which the cosine reaches the floor, > ``warmup_steps``.
        eta_min: the floor, >= 0, one value or one per param group.  Default 0.
        warmup_start_factor: fraction of the base lr at step 0, in [0, 1].  Default 0.
        last_epoch: index of the last step; -1 starts a new schedule.
    """

    _fields = ("warmup_steps", "total_steps", "eta_mins", "warmup_start_factor")

    def __init__(
        self,
        optimizer: OptimizerLike,
        warmup_steps: int,
        total_steps: int,
        eta_min: float | list[float] = 0.0,
        warmup_start_factor: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        self.warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
        self.total_steps = check_int("total_steps", total_steps, minimum=self.warmup_steps + 1)
        self.eta_mins = per_group(
            "eta_min",
            eta_min,
            len(param_groups_of(optimizer)),
            lambda name, v: check_number(name, v, minimum=0.0),
        )
        self.warmup_start_factor = check_number(
            "warmup_start_factor", warmup_start_factor, minimum=0.0, maximum=1.0
        )
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, step: int) -> list[float]:
        W, T, s = self.warmup_steps, self.total_steps, self.warmup_start_factor
        if step < W:
            factor = s + (1 - s) * step / W
            return [base * factor for base in self.base_lrs]
        if step > T:
            return list(self.eta_mins)
        half = (1 + math.cos(math.pi * (step - W) / (T - W))) / 2
        return [eta + (base - eta) * half for base, eta in zip(self.base_lrs, self.eta_mins)]
