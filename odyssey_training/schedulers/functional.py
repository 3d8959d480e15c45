"""Schedules given by user functions: LambdaLR and MultiplicativeLR.

The functions are not saved by ``state_dict`` (as torch); construct the scheduler
with the same functions before loading a state.
"""

from __future__ import annotations

from collections.abc import Callable

from ._args import per_group_callables
from .base import LRScheduler, OptimizerLike, Recurrence, param_groups_of

LrLambda = Callable[[int], float]


class LambdaLR(LRScheduler):
    r"""The base lr times a user factor: :math:`\eta_t = \eta_0 \, \lambda(t)`.

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        lr_lambda: a function of the step, or a list with one per param group.
        last_epoch: index of the last step; -1 starts a new schedule.
    """

    def __init__(
        self, optimizer: OptimizerLike, lr_lambda: LrLambda | list[LrLambda], last_epoch: int = -1
    ) -> None:
        self.lr_lambdas = per_group_callables(
            "lr_lambda", lr_lambda, len(param_groups_of(optimizer))
        )
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, step: int) -> list[float]:
        return [base * fn(step) for base, fn in zip(self.base_lrs, self.lr_lambdas)]


class MultiplicativeLR(LRScheduler):
    r"""Multiply the lr by a user factor at every step after the first.

    .. math:: \eta_t = \eta_0 \prod_{k=1}^{t} \lambda(k)

    torch applies this recursively; ``lr_at`` evaluates the same product in the same
    order (memoized, so stepping stays O(1)), so values and resumes are exact.

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        lr_lambda: a function of the step, or a list with one per param group.
        last_epoch: index of the last step; -1 starts a new schedule.
    """

    def __init__(
        self, optimizer: OptimizerLike, lr_lambda: LrLambda | list[LrLambda], last_epoch: int = -1
    ) -> None:
        self.lr_lambdas = per_group_callables(
            "lr_lambda", lr_lambda, len(param_groups_of(optimizer))
        )
        self._products: Recurrence[list[float]] = Recurrence(
            lambda: list(self.base_lrs), self._recursive_lr
        )
        super().__init__(optimizer, last_epoch)

    def _on_load(self) -> None:
        self._products.reset()

    def _lr_at(self, step: int) -> list[float]:
        return list(self._products.at(step))

    def _recursive_lr(self, step: int, lrs: list[float]) -> list[float]:
        if step == 0:
            return list(lrs)
        return [lr * fn(step) for lr, fn in zip(lrs, self.lr_lambdas)]

    def _restart_lr(self, lrs: list[float]) -> list[float]:
        # torch's SequentialLR restarts a scheduler without a closed form by calling its
        # get_lr() at step 0, which for MultiplicativeLR scales the current lr by lambda(0).
        return [lr * fn(0) for lr, fn in zip(lrs, self.lr_lambdas)]
