"""Schedules that scale every group's base lr by one factor m(t).

StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR and PolynomialLR:
``lr_t = base_lr * m(t)``.  torch applies them recursively as
``lr_t = lr_{t-1} * m(t) / m(t-1)`` (``lr_0 = lr * m(0)``), which is how several of
them compose in a ChainedScheduler; ``_recursive_lr`` reproduces that rule.
"""

from __future__ import annotations

from abc import abstractmethod
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from typing import Any

from ._args import check_int, check_milestones, check_number
from .base import LRScheduler, OptimizerLike


class _FactorSchedule(LRScheduler):
    """A schedule ``lr_t = base_lr * m(t)`` with one factor for all groups."""

    @abstractmethod
    def factor_at(self, step: int) -> float:
        """The multiplier m(step) applied to every group's base lr."""

    def _lr_at(self, step: int) -> list[float]:
        m = self.factor_at(step)
        return [base * m for base in self.base_lrs]

    def _recursive_lr(self, step: int, lrs: list[float]) -> list[float]:
        if step == 0:
            return [lr * self.factor_at(0) for lr in lrs]
        previous, current = self.factor_at(step - 1), self.factor_at(step)
        if current == previous:
            return list(lrs)
        if previous == 0.0:
            # torch divides by zero here (ConstantLR with factor=0); restart from the base lr.
            return [base * current for base in self.base_lrs]
        return [lr * (current / previous) for lr in lrs]


class StepLR(_FactorSchedule):
    r"""Decay by ``gamma`` every ``step_size`` steps.

    .. math:: \eta_t = \eta_0 \, \gamma^{\lfloor t / \text{step\_size} \rfloor}

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        step_size: period of the decay, a positive integer.
        gamma: multiplicative decay factor, >= 0.  Default 0.1.
        last_epoch: index of the last step; -1 starts a new schedule.
    """

    _fields = ("step_size", "gamma")

    def __init__(
        self, optimizer: OptimizerLike, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.step_size = check_int("step_size", step_size, minimum=1)
        self.gamma = check_number("gamma", gamma, minimum=0.0)
        super().__init__(optimizer, last_epoch)

    def factor_at(self, step: int) -> float:
        return self.gamma ** (step // self.step_size)


class MultiStepLR(_FactorSchedule):
    r"""Decay by ``gamma`` at each milestone.

    .. math:: \eta_t = \eta_0 \, \gamma^{\#\{m \in \text{milestones} : 0 \le m \le t\}}

    The milestones are counted as torch counts them (a ``Counter``): in any order,
    and a milestone listed ``n`` times multiplies the lr by :math:`\gamma^n` there
    (``[30, 12, 12, 5]`` decays once at 5, twice at 12, once at 30).  A negative
    milestone is never reached (torch's ``step()`` never visits it either).

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        milestones: step indices (any iterable of whole numbers, or a Counter).
        gamma: multiplicative decay factor, >= 0.  Default 0.1.
        last_epoch: index of the last step; -1 starts a new schedule.
    """

    _fields = ("milestones", "gamma")

    def __init__(
        self,
        optimizer: OptimizerLike,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        self.milestones = check_milestones("milestones", milestones)
        self.gamma = check_number("gamma", gamma, minimum=0.0)
        super().__init__(optimizer, last_epoch)

    def factor_at(self, step: int) -> float:
        passed = bisect_right(self.milestones, step) - bisect_left(self.milestones, 0)
        return self.gamma**passed

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """As the base class; ``milestones`` may also be torch's ``Counter``."""
        if isinstance(state_dict, Mapping) and "milestones" in state_dict:
            milestones = check_milestones("milestones", state_dict["milestones"])
            state_dict = {**state_dict, "milestones": milestones}
        super().load_state_dict(state_dict)


class ConstantLR(_FactorSchedule):
    r"""Scale by a constant ``factor`` for the first ``total_iters`` steps.

    .. math:: \eta_t = \eta_0 \cdot \begin{cases} \text{factor} & t < \text{total\_iters} \\
              1 & t \ge \text{total\_iters} \end{cases}

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        factor: the scale, in [0, 1].  Default 1/3.
        total_iters: number of scaled steps, >= 1.  Default 5.
        last_epoch: index of the last step; -1 starts a new schedule.
    """

    _fields = ("factor", "total_iters")

    def __init__(
        self,
        optimizer: OptimizerLike,
        factor: float = 1.0 / 3,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        self.factor = check_number("factor", factor, minimum=0.0, maximum=1.0)
        self.total_iters = check_int("total_iters", total_iters, minimum=1)
        super().__init__(optimizer, last_epoch)

    def factor_at(self, step: int) -> float:
        return self.factor + (step >= self.total_iters) * (1 - self.factor)


class LinearLR(_FactorSchedule):
    r"""Scale linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` steps.

    .. math:: \eta_t = \eta_0 \left(s + (e - s)\,\frac{\min(t, T)}{T}\right)

    with :math:`s` = ``start_factor``, :math:`e` = ``end_factor``, :math:`T` = ``total_iters``.

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        start_factor: factor at step 0, in (0, 1].  Default 1/3.
        end_factor: factor from step ``total_iters`` on, in [0, 1].  Default 1.
        total_iters: length of the ramp, >= 1.  Default 5.
        last_epoch: index of the last step; -1 starts a new schedule.
    """

    _fields = ("start_factor", "end_factor", "total_iters")

    def __init__(
        self,
        optimizer: OptimizerLike,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        self.start_factor = check_number("start_factor", start_factor, above=0.0, maximum=1.0)
        self.end_factor = check_number("end_factor", end_factor, minimum=0.0, maximum=1.0)
        self.total_iters = check_int("total_iters", total_iters, minimum=1)
        super().__init__(optimizer, last_epoch)

    def factor_at(self, step: int) -> float:
        span = self.end_factor - self.start_factor
        return self.start_factor + span * min(self.total_iters, step) / self.total_iters


class ExponentialLR(_FactorSchedule):
    r"""Decay by ``gamma`` every step.

    .. math:: \eta_t = \eta_0 \, \gamma^{t}

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        gamma: multiplicative decay factor, >= 0.
        last_epoch: index of the last step; -1 starts a new schedule.
    """

    _fields = ("gamma",)

    def __init__(self, optimizer: OptimizerLike, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = check_number("gamma", gamma, minimum=0.0)
        super().__init__(optimizer, last_epoch)

    def factor_at(self, step: int) -> float:
        return self.gamma**step


class PolynomialLR(_FactorSchedule):
    r"""Decay polynomially to zero over ``total_iters`` steps.

    .. math:: \eta_t = \eta_0 \left(1 - \frac{\min(t, T)}{T}\right)^{p}

    with :math:`T` = ``total_iters`` and :math:`p` = ``power``.

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        total_iters: steps until the lr reaches 0, >= 1.  Default 5.
        power: exponent of the polynomial, >= 0.  Default 1.
        last_epoch: index of the last step; -1 starts a new schedule.
    """

    _fields = ("total_iters", "power")

    def __init__(
        self,
        optimizer: OptimizerLike,
        total_iters: int = 5,
        power: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        self.total_iters = check_int("total_iters", total_iters, minimum=1)
        self.power = check_number("power", power, minimum=0.0)
        super().__init__(optimizer, last_epoch)

    def factor_at(self, step: int) -> float:
        return (1.0 - min(self.total_iters, step) / self.total_iters) ** self.power
