"""``Loss``: the contract every loss follows.

A loss maps a batch of model outputs and targets to a scalar and the gradient
of that scalar with respect to the outputs, in one call::

    value, grad_outputs = loss(outputs, targets)
    model.backward(grad_outputs)

* ``value`` is a Python float: the batch loss after the reduction;
* ``grad_outputs`` is :math:`\\partial\\,\\text{value} / \\partial\\,\\text{outputs}`,
  a new C-contiguous array with the shape and dtype of ``outputs``.

Arguments, defaults and numbers are torch's (``torch.nn.functional``), and the
math runs in the outputs' dtype (float32 or float64), as torch's does.

Reductions: ``"mean"`` (torch's, including its weighted mean) and ``"sum"``.
``"none"`` is refused: it returns one loss per element, and the loop's contract
is one scalar whose gradient drives ``backward``; a per-element loss with a
gradient of its sum is ``reduction="sum"``.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from ..parameter import FLOAT_DTYPES

__all__ = ["Loss", "REDUCTIONS", "check_outputs", "check_reduction", "as_weights",
           "matching_targets"]

REDUCTIONS = ("mean", "sum")


class Loss(abc.ABC):
    """Base class: a callable ``(outputs, targets) -> (value, grad_outputs)``."""

    reduction: str

    @abc.abstractmethod
    def __call__(self, outputs: np.ndarray, targets: Any) -> tuple[float, np.ndarray]:
        """The reduced loss and its gradient with respect to ``outputs``."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        return f"{type(self).__name__}({args})"

    def _config(self) -> dict[str, Any]:
        return {"reduction": self.reduction}


def check_reduction(owner: str, reduction: object) -> str:
    """``reduction`` if it is ``"mean"`` or ``"sum"``, else a ValueError."""
    if reduction == "none":
        raise ValueError(f"{owner}: reduction='none' is not supported: the loss returns one "
                         "scalar and its gradient (use 'sum' for the gradient of the "
                         "per-element losses' sum)")
    if reduction not in REDUCTIONS:
        raise ValueError(f"{owner}: reduction must be 'mean' or 'sum', got {reduction!r}")
    return str(reduction)


def check_outputs(owner: str, outputs: object) -> np.ndarray:
    """``outputs`` if it is a float32/float64 ndarray, else a TypeError naming it."""
    if not isinstance(outputs, np.ndarray):
        raise TypeError(f"{owner}: outputs must be a numpy.ndarray, got "
                        f"{type(outputs).__name__}")
    if outputs.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{owner}: outputs have dtype {outputs.dtype}; supported: float32, "
                        "float64")
    return outputs


def as_weights(owner: str, what: str, value: object, vector: bool) -> np.ndarray | None:
    """Optional weights as a read-only float64 copy (``None`` stays ``None``); a 1-D
    array when ``vector``.  Non-numeric or non-finite weights are a ValueError."""
    if value is None:
        return None
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{owner}: {what} must be an array of numbers, got {value!r}") from err
    if vector and arr.ndim != 1:
        raise ValueError(f"{owner}: {what} must be a 1-D array (one weight per class), got "
                         f"shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{owner}: {what} must be finite, got {value!r}")
    arr.flags.writeable = False
    return arr


def matching_targets(owner: str, outputs: np.ndarray, targets: object) -> np.ndarray:
    """``targets`` as an array of ``outputs``' shape and dtype (real numbers only)."""
    if not isinstance(targets, np.ndarray):
        targets = np.asarray(targets)
    if targets.shape != outputs.shape:
        raise ValueError(f"{owner}: targets have shape {targets.shape}, outputs "
                         f"{outputs.shape}; they must be equal")
    if targets.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: targets have dtype {targets.dtype}; expected real numbers")
    return targets.astype(outputs.dtype, copy=False)
