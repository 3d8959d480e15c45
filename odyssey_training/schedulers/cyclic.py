"""Cyclical schedules that also cycle momentum: OneCycleLR and CyclicLR.

Momentum is cycled inversely to the lr.  The scheduler writes ``group["momentum"]``
(SGD, RMSprop) or beta1 of ``group["betas"]`` (Adam, AdamW, Lion), chosen as torch
chooses: ``betas`` when the optimizer has them, else ``momentum``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from ._args import check_choice, check_int, check_number, per_group
from .base import LRScheduler, OptimizerLike, momentum_key, param_groups_of, write_momenta


def _nonnegative(name: str, value: Any) -> float:
    return check_number(name, value, minimum=0.0)


def _positive(name: str, value: Any) -> float:
    return check_number(name, value, above=0.0)


def _check_cycle_momentum(optimizer: OptimizerLike, cycle_momentum: bool) -> None:
    if cycle_momentum and momentum_key(optimizer) is None:
        raise ValueError(
            "cycle_momentum=True needs an optimizer with 'momentum' or 'betas' in its param groups"
        )


def _init_momenta(optimizer: OptimizerLike, maxima: list[float], bases: list[float]) -> None:
    """Start momentum at its maximum and record both bounds in the groups, as torch."""
    groups = param_groups_of(optimizer)
    write_momenta(groups, momentum_key(optimizer), maxima)
    for group, high, low in zip(groups, maxima, bases):
        group["max_momentum"] = high
        group["base_momentum"] = low


def _anneal_cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _anneal_linear(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


class OneCycleLR(LRScheduler):
    r"""The 1cycle policy (Smith & Topin, 2017): warm up to ``max_lr``, then anneal far below.

    With :math:`\eta_{init} = \text{max\_lr} / \text{div\_factor}` and
    :math:`\eta_{min} = \eta_{init} / \text{final\_div\_factor}`, and :math:`p` =
    ``pct_start``, :math:`N` = ``total_steps``, the phases end at steps
    (two phases) :math:`pN - 1, N - 1` going :math:`\eta_{init} \to \text{max\_lr} \to
    \eta_{min}`, or (``three_phase``) :math:`pN - 1, 2pN - 2, N - 1` going
    :math:`\eta_{init} \to \text{max\_lr} \to \eta_{init} \to \eta_{min}`.  Inside a
    phase from :math:`a` (at step :math:`s_0`) to :math:`b` (at :math:`s_1`), with
    :math:`x = (t - s_0) / (s_1 - s_0)`:

    .. math:: \eta_t = b + \tfrac12(a - b)(1 + \cos \pi x) \quad\text{(cos)}, \qquad
              \eta_t = a + (b - a)\,x \quad\text{(linear)}

    Momentum follows the same phases from ``max_momentum`` to ``base_momentum`` and
    back (held at ``max_momentum`` in the third phase).  Steps run from 0 to
    ``total_steps``; a step past that raises ``ValueError``, as torch.

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        max_lr: peak lr, > 0, one value or one per group.
        total_steps: length of the cycle; else ``epochs * steps_per_epoch``.
        epochs, steps_per_epoch: used when ``total_steps`` is None.
        pct_start: fraction of the cycle spent increasing the lr, in [0, 1].  Default 0.3.
        anneal_strategy: ``"cos"`` or ``"linear"``.  Default ``"cos"``.
        cycle_momentum: cycle momentum / beta1 inversely to the lr.  Default True.
        base_momentum, max_momentum: momentum bounds, >= 0.  Defaults 0.85, 0.95.
        div_factor: ``max_lr / initial lr``, > 0.  Default 25.
        final_div_factor: ``initial lr / min lr``, > 0.  Default 1e4.
        three_phase: use the three-phase schedule of the paper.  Default False.
        last_epoch: index of the last step; -1 starts a new schedule.
    """

    _fields = (
        "total_steps",
        "pct_start",
        "anneal_strategy",
        "three_phase",
        "max_lrs",
        "min_lrs",
        "cycle_momentum",
        "max_momentums",
        "base_momentums",
    )

    def __init__(
        self,
        optimizer: OptimizerLike,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        n_groups = len(param_groups_of(optimizer))
        if total_steps is not None:
            self.total_steps = check_int("total_steps", total_steps, minimum=1)
        elif epochs is not None and steps_per_epoch is not None:
            epochs = check_int("epochs", epochs, minimum=1)
            self.total_steps = epochs * check_int("steps_per_epoch", steps_per_epoch, minimum=1)
        else:
            raise ValueError("total_steps must be given, or both epochs and steps_per_epoch")
        self.pct_start = check_number("pct_start", pct_start, minimum=0.0, maximum=1.0)
        self.anneal_strategy = check_choice("anneal_strategy", anneal_strategy, ("cos", "linear"))
        self.three_phase = bool(three_phase)
        self.max_lrs = per_group("max_lr", max_lr, n_groups, _positive)
        div_factor = check_number("div_factor", div_factor, above=0.0)
        final_div_factor = check_number("final_div_factor", final_div_factor, above=0.0)
        self._initial_lrs = [lr / div_factor for lr in self.max_lrs]
        self.min_lrs = [lr / final_div_factor for lr in self._initial_lrs]
        self.cycle_momentum = bool(cycle_momentum)
        self.max_momentums = per_group("max_momentum", max_momentum, n_groups, _nonnegative)
        self.base_momentums = per_group("base_momentum", base_momentum, n_groups, _nonnegative)
        _check_cycle_momentum(optimizer, self.cycle_momentum)
        self._on_load()
        check_int("last_epoch", last_epoch, minimum=-1)
        if last_epoch + 1 > self.total_steps:
            raise ValueError(f"last_epoch={last_epoch} is past total_steps={self.total_steps}")
        super().__init__(optimizer, last_epoch)

    def _on_load(self) -> None:
        p, n = self.pct_start, self.total_steps
        ends = (
            [float(p * n) - 1, float(2 * p * n) - 2, n - 1]
            if self.three_phase
            else [float(p * n) - 1, n - 1]
        )
        lr_keys = (
            ["initial", "max", "initial", "min"] if self.three_phase else ["initial", "max", "min"]
        )
        mom_keys = ["max", "base", "max", "max"] if self.three_phase else ["max", "base", "max"]
        if ends[0] == 0 or ends[-1] == ends[-2]:
            raise ValueError(f"pct_start={p} with total_steps={n} gives a zero-length phase")
        self._phases = [
            (ends[i], lr_keys[i], lr_keys[i + 1], mom_keys[i], mom_keys[i + 1])
            for i in range(len(ends))
        ]
        self._anneal: Callable[[float, float, float], float] = (
            _anneal_cos if self.anneal_strategy == "cos" else _anneal_linear
        )

    def _prepare_groups(self, groups: list[dict[str, Any]], fresh: bool) -> None:
        if not fresh:
            return
        for group, initial, peak, low in zip(groups, self._initial_lrs, self.max_lrs, self.min_lrs):
            group["initial_lr"] = initial
            group["max_lr"] = peak
            group["min_lr"] = low
        if self.cycle_momentum:
            _init_momenta(self.optimizer, self.max_momentums, self.base_momentums)

    def _phase(self, step: int) -> tuple[float, tuple[float, str, str, str, str]]:
        if step > self.total_steps:
            raise ValueError(
                f"step {step} is past total_steps={self.total_steps}: OneCycleLR runs from step 0 "
                "to total_steps"
            )
        start = 0.0
        for i, phase in enumerate(self._phases):
            end = phase[0]
            if step <= end or i == len(self._phases) - 1:
                return (step - start) / (end - start), phase
            start = end
        raise AssertionError("unreachable: the last phase always matches")

    def _lr_at(self, step: int) -> list[float]:
        pct, (_, start_key, end_key, _, _) = self._phase(step)
        out = []
        for i, base in enumerate(self.base_lrs):
            values = {"initial": base, "max": self.max_lrs[i], "min": self.min_lrs[i]}
            out.append(self._anneal(values[start_key], values[end_key], pct))
        return out

    def _momentum_at(self, step: int) -> list[float] | None:
        if not self.cycle_momentum:
            return None
        pct, (_, _, _, start_key, end_key) = self._phase(step)
        out = []
        for high, low in zip(self.max_momentums, self.base_momentums):
            values = {"max": high, "base": low}
            out.append(self._anneal(values[start_key], values[end_key], pct))
        return out


class CyclicLR(LRScheduler):
    r"""Cyclical learning rates (Smith, 2017) between ``base_lr`` and ``max_lr``.

    With :math:`S = \text{step\_size\_up} + \text{step\_size\_down}`,
    :math:`r = \text{step\_size\_up} / S`, cycle :math:`c = \lfloor 1 + t/S \rfloor`,
    :math:`x = 1 + t/S - c` and :math:`h = x / r` if :math:`x \le r` else
    :math:`(x - 1)/(r - 1)`:

    .. math:: \eta_t = \text{base\_lr} + (\text{max\_lr} - \text{base\_lr})\, h\, f(u)

    where :math:`f` is the scale function and :math:`u = c` (``scale_mode="cycle"``) or
    :math:`u = t` (``"iterations"``): ``triangular`` :math:`f = 1`; ``triangular2``
    :math:`f(c) = 2^{1 - c}`; ``exp_range`` :math:`f(t) = \gamma^t`; or a custom
    ``scale_fn``.  Momentum: :math:`m_t = \text{max\_m} - (\text{max\_m} -
    \text{base\_m})\, h\, f(u)`.

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        base_lr, max_lr: the cycle's bounds, >= 0, one value or one per group.
        step_size_up: steps in the rising half, > 0.  Default 2000.
        step_size_down: steps in the falling half, >= 0; None means ``step_size_up``.
        mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"`` (ignored with ``scale_fn``).
        gamma: base of ``exp_range``, >= 0.  Default 1.
        scale_fn: custom scale function (not saved in ``state_dict``).
        scale_mode: ``"cycle"`` or ``"iterations"``, for ``scale_fn``.  Default ``"cycle"``.
        cycle_momentum: cycle momentum / beta1 inversely to the lr.  Default True.
        base_momentum, max_momentum: momentum bounds, >= 0.  Defaults 0.8, 0.9.
        last_epoch: index of the last step; -1 starts a new schedule.
    """

    _fields = (
        "max_lrs",
        "total_size",
        "step_ratio",
        "mode",
        "gamma",
        "scale_mode",
        "cycle_momentum",
        "base_momentums",
        "max_momentums",
    )

    def __init__(
        self,
        optimizer: OptimizerLike,
        base_lr: float | list[float],
        max_lr: float | list[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: Literal["cycle", "iterations"] = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.8,
        max_momentum: float | list[float] = 0.9,
        last_epoch: int = -1,
    ) -> None:
        n_groups = len(param_groups_of(optimizer))
        self._base_lrs = per_group("base_lr", base_lr, n_groups, _nonnegative)
        self.max_lrs = per_group("max_lr", max_lr, n_groups, _nonnegative)
        up = check_number("step_size_up", step_size_up, above=0.0)
        down = (
            up
            if step_size_down is None
            else check_number("step_size_down", step_size_down, minimum=0.0)
        )
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if scale_fn is None:
            self.mode = check_choice("mode", mode, ("triangular", "triangular2", "exp_range"))
        else:
            if not callable(scale_fn):
                raise TypeError(f"scale_fn must be callable, got {type(scale_fn).__name__}")
            self.mode = mode
        self.gamma = check_number("gamma", gamma, minimum=0.0)
        self.scale_mode = check_choice("scale_mode", scale_mode, ("cycle", "iterations"))
        self._custom_scale_fn = scale_fn
        self.cycle_momentum = bool(cycle_momentum)
        self.base_momentums = per_group("base_momentum", base_momentum, n_groups, _nonnegative)
        self.max_momentums = per_group("max_momentum", max_momentum, n_groups, _nonnegative)
        _check_cycle_momentum(optimizer, self.cycle_momentum)
        self._on_load()
        super().__init__(optimizer, last_epoch)

    def _on_load(self) -> None:
        if self._custom_scale_fn is not None:
            self._scale_fn = self._custom_scale_fn
        elif self.mode == "triangular":
            self._scale_fn, self.scale_mode = (lambda x: 1.0), "cycle"
        elif self.mode == "triangular2":
            self._scale_fn, self.scale_mode = (lambda x: 1 / (2.0 ** (x - 1))), "cycle"
        else:
            gamma = self.gamma
            self._scale_fn, self.scale_mode = (lambda x: gamma**x), "iterations"

    def _prepare_groups(self, groups: list[dict[str, Any]], fresh: bool) -> None:
        if not fresh:
            return
        for group, lr in zip(groups, self._base_lrs):
            group["lr"] = lr
            group.setdefault("initial_lr", lr)
        if self.cycle_momentum:
            _init_momenta(self.optimizer, self.max_momentums, self.base_momentums)

    def _read_base_lrs(self, groups: list[dict[str, Any]]) -> list[float]:
        return list(self._base_lrs)

    def _height_and_scale(self, step: int) -> tuple[float, float]:
        cycle = math.floor(1 + step / self.total_size)
        x = 1.0 + step / self.total_size - cycle
        if x <= self.step_ratio:
            height = x / self.step_ratio
        else:
            height = (x - 1) / (self.step_ratio - 1)
        return height, self._scale_fn(cycle if self.scale_mode == "cycle" else step)

    def _lr_at(self, step: int) -> list[float]:
        height, scale = self._height_and_scale(step)
        return [
            base + (peak - base) * height * scale for base, peak in zip(self.base_lrs, self.max_lrs)
        ]

    def _momentum_at(self, step: int) -> list[float] | None:
        if not self.cycle_momentum:
            return None
        height, scale = self._height_and_scale(step)
        return [
            high - (high - low) * height * scale
            for low, high in zip(self.base_momentums, self.max_momentums)
        ]
