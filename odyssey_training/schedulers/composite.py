"""Compositions of schedules: SequentialLR and ChainedScheduler.

torch composes schedulers through the optimizer: each child's ``step()`` reads
``group["lr"]`` and scales it (for its recursive schedules) or overwrites it (for
closed-form ones).  Here each child states that rule as ``_recursive_lr(step, lrs)``
and the composite applies it to its own explicit ``_last_lr``; ``lr_at(step)`` replays
the rule from step 0 (memoized, so stepping stays O(1)).  The lrs therefore match
torch's, and a state dict holds everything needed to continue exactly, also where
torch's own resume goes wrong (``SequentialLR(..., last_epoch=k)``, loading a state
without the optimizer's lrs, a child without a closed form).
"""

from __future__ import annotations

from abc import abstractmethod
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any

from ._args import check_increasing, check_int
from .base import LRScheduler, OptimizerLike, Recurrence, check_state, param_groups_of
from .plateau import ReduceLROnPlateau

_Point = tuple[list[float], list[float] | None]  # (lrs, the last momenta written, or None)


def _check_children(schedulers: Any, optimizer: Any) -> tuple[list[LRScheduler], Any]:
    """Check the children of a composite; return them and their optimizer (the first's if None)."""
    children = list(schedulers) if isinstance(schedulers, Sequence) else None
    if not children:
        raise ValueError(
            f"schedulers must be a non-empty sequence of schedulers, got {schedulers!r}"
        )
    if optimizer is None:
        optimizer = getattr(children[0], "optimizer", None)
    param_groups_of(optimizer)
    for i, child in enumerate(children):
        if isinstance(child, ReduceLROnPlateau):
            raise ValueError(f"schedulers[{i}] is a ReduceLROnPlateau, whose step needs a metric")
        if isinstance(child, _Composite):
            raise ValueError(
                f"schedulers[{i}] is a {type(child).__name__}; nesting is not supported"
            )
        if not isinstance(child, LRScheduler):
            raise TypeError(f"schedulers[{i}] must be an LRScheduler, got {type(child).__name__}")
        if child.optimizer is not optimizer:
            raise ValueError(f"schedulers[{i}] schedules a different optimizer")
    return children, optimizer


class _Composite(LRScheduler):
    """Shared machinery: a replayed recurrence over ``_advance`` and state with children."""

    _schedulers: list[LRScheduler]

    def _start(self, optimizer: OptimizerLike, last_epoch: int) -> None:
        groups = param_groups_of(optimizer)
        self.optimizer = optimizer
        self.base_lrs = [float(g.get("initial_lr", g["lr"])) for g in groups]
        self._replay: Recurrence[_Point] = Recurrence(self._first, self._next)
        lrs, momenta = self._replay.at(last_epoch + 1)
        self._commit(last_epoch + 1, lrs, momenta)

    def _first(self) -> _Point:
        return self._advance(0, list(self.base_lrs))

    def _next(self, step: int, point: _Point) -> _Point:
        lrs, momenta = self._advance(step, point[0])
        return lrs, momenta if momenta is not None else point[1]

    @abstractmethod
    def _advance(self, step: int, lrs: list[float]) -> _Point:
        """The lrs at ``step`` from the lrs at ``step - 1``, and the momenta written (or None)."""

    def _lr_at(self, step: int) -> list[float]:
        return list(self._replay.at(step)[0])

    def _momentum_at(self, step: int) -> list[float] | None:
        return self._replay.at(step)[1]

    def step(self) -> None:  # type: ignore[override]
        """Advance every child by one step and write the composed lrs into the optimizer."""
        target = self.last_epoch + 1
        lrs, momenta = self._advance(target, self._last_lr)
        self._commit(target, lrs, momenta)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["_schedulers"] = [child.state_dict() for child in self._schedulers]
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        check_state(self, state_dict, ("_schedulers",))
        children = state_dict["_schedulers"]
        if len(children) != len(self._schedulers):
            raise ValueError(
                f"state_dict has {len(children)} schedulers, this {type(self).__name__} has "
                f"{len(self._schedulers)}"
            )
        for child, child_state in zip(self._schedulers, children):
            child.load_state_dict(child_state)
        super().load_state_dict(state_dict)

    def _on_load(self) -> None:
        self._replay.reset()


class SequentialLR(_Composite):
    r"""Run ``schedulers[i]`` between ``milestones[i-1]`` and ``milestones[i]``.

    .. math:: \eta_t = \text{schedulers}[i].\eta_{t - m_{i-1}}, \quad
              i = \#\{m \in \text{milestones} : m \le t\}, \; m_{-1} = 0

    At a milestone the next scheduler starts at its own step 0 from its closed form
    (torch's ``_get_closed_form_lr``); a MultiplicativeLR, which has none, continues
    from the current lr times ``lr_lambda(0)``, as in torch.

    Args:
        optimizer: the optimizer all ``schedulers`` were built on.
        schedulers: the schedulers, in order (not ReduceLROnPlateau, not composites).
        milestones: strictly increasing steps >= 0, one fewer than ``schedulers``.
        last_epoch: index of the last step; -1 starts a new schedule, ``k`` resumes
            at step ``k + 1`` (replaying the children, unlike torch).
    """

    _fields = ("_milestones",)

    def __init__(
        self,
        optimizer: OptimizerLike,
        schedulers: Sequence[LRScheduler],
        milestones: Sequence[int],
        last_epoch: int = -1,
    ) -> None:
        param_groups_of(optimizer)
        self._schedulers, _ = _check_children(schedulers, optimizer)
        self._milestones = check_increasing("milestones", milestones, minimum=0)
        if len(self._milestones) != len(self._schedulers) - 1:
            raise ValueError(
                "milestones must have one fewer entry than schedulers "
                f"({len(self._schedulers) - 1}), got {len(self._milestones)}"
            )
        last_epoch = check_int("last_epoch", last_epoch, minimum=-1)
        for child in self._schedulers:
            child.last_epoch = -1
        self._start(optimizer, last_epoch)

    def _locate(self, step: int) -> tuple[LRScheduler, int, bool]:
        """The scheduler active at ``step``, its own step, and whether ``step`` is its milestone."""
        index = bisect_right(self._milestones, step)
        offset = self._milestones[index - 1] if index > 0 else 0
        return self._schedulers[index], step - offset, index > 0 and step == offset

    def _advance(self, step: int, lrs: list[float]) -> _Point:
        child, local, restart = self._locate(step)
        if step == 0:
            lrs = child._recursive_lr(0, list(self.base_lrs))
        elif restart:
            lrs = child._restart_lr(lrs)
        else:
            lrs = child._recursive_lr(local, lrs)
        return lrs, child._momentum_at(local)

    def _commit(self, step: int, lrs: list[float], momenta: list[float] | None) -> None:
        super()._commit(step, lrs, momenta)
        child, local, _ = self._locate(step)
        child.last_epoch = local
        child._last_lr = list(lrs)


class ChainedScheduler(_Composite):
    r"""Step several schedulers together; their effects compose as in torch.

    At each step the children apply their torch rules in order to the current lrs:
    multiplicative schedules multiply (``ConstantLR`` then ``ExponentialLR`` gives
    :math:`\eta_t = \eta_0 \cdot \text{factor}(t) \cdot \gamma^t`), recursive ones
    (CosineAnnealingLR, MultiplicativeLR) update from the current value, closed-form
    ones (LambdaLR, CyclicLR, OneCycleLR, ...) overwrite it.  The children are driven
    from step 0 in the order given (list them in the order they were constructed).

    Args:
        schedulers: the schedulers to chain (not ReduceLROnPlateau, not composites).
        optimizer: their optimizer; defaults to ``schedulers[0].optimizer``.
    """

    def __init__(
        self, schedulers: Sequence[LRScheduler], optimizer: OptimizerLike | None = None
    ) -> None:
        self._schedulers, optimizer = _check_children(schedulers, optimizer)
        self._start(optimizer, -1)

    def _advance(self, step: int, lrs: list[float]) -> _Point:
        momenta = None
        for child in self._schedulers:
            lrs = child._recursive_lr(step, lrs)
            child_momenta = child._momentum_at(step)
            if child_momenta is not None:
                momenta = child_momenta
        return lrs, momenta

    def _commit(self, step: int, lrs: list[float], momenta: list[float] | None) -> None:
        super()._commit(step, lrs, momenta)
        for child in self._schedulers:
            child.last_epoch = step
        self._schedulers[-1]._last_lr = list(lrs)
