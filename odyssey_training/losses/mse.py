"""Mean squared error, as ``torch.nn.MSELoss``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Loss, check_outputs, check_reduction, matching_targets

__all__ = ["MSELoss"]


class MSELoss(Loss):
    r"""Squared error between ``outputs`` :math:`x` and ``targets`` :math:`y` of the
    same shape, as ``torch.nn.MSELoss`` (targets are cast to the outputs' dtype):

    .. math::

        \text{sum} = \sum_i (x_i - y_i)^2, \qquad
        \text{mean} = \frac{1}{M} \sum_i (x_i - y_i)^2, \qquad
        \frac{\partial\,\text{mean}}{\partial x_i} = \frac{2 (x_i - y_i)}{M}

    over all :math:`M` elements (the mean of an empty batch is NaN, as torch).

    >>> import numpy as np
    >>> value, grad = MSELoss()(np.array([1.0, 2.0]), np.array([0.0, 4.0]))
    >>> value, grad.tolist()
    (2.5, [1.0, -2.0])
    """

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = check_reduction(type(self).__name__, reduction)

    def __call__(self, outputs: np.ndarray, targets: Any) -> tuple[float, np.ndarray]:
        name = type(self).__name__
        x = check_outputs(name, outputs)
        diff = x - matching_targets(name, x, targets)
        value = np.vdot(diff, diff) if diff.size else x.dtype.type(0)
        diff *= 2
        if self.reduction == "mean":
            with np.errstate(divide="ignore", invalid="ignore"):
                value = value / x.dtype.type(x.size)
                diff /= x.size
        return float(value), diff
