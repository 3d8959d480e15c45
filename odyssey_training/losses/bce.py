"""Binary cross-entropy on logits, as ``torch.nn.BCEWithLogitsLoss``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Loss, as_weights, check_outputs, check_reduction, matching_targets

__all__ = ["BCEWithLogitsLoss"]


class BCEWithLogitsLoss(Loss):
    r"""Sigmoid + binary cross-entropy in one stable step, as ``torch.nn.BCEWithLogitsLoss``.

    For logits :math:`x`, targets :math:`y \in [0, 1]` of the same shape (cast to
    the logits' dtype), element weights :math:`w` (``weight``, broadcast to the
    logits' shape) and positive-class weights :math:`q` (``pos_weight``, broadcast
    along the last axis, one per class), with
    :math:`\operatorname{softplus}(z) = \log(1 + e^{z}) = \max(z, 0) + \log(1 + e^{-|z|})`:

    .. math::

        \ell_i &= -w_i \big[q_i y_i \log\sigma(x_i) + (1 - y_i)\log(1 - \sigma(x_i))\big] \\
               &= w_i \big[(1 - y_i)\, x_i + (1 + (q_i - 1) y_i)\,
                  \operatorname{softplus}(-x_i)\big] \\
        \frac{\partial \ell_i}{\partial x_i} &=
                w_i \big[(1 - y_i) - (1 + (q_i - 1) y_i)\,\sigma(-x_i)\big]

    reduced by ``"mean"`` (over all elements) or ``"sum"``.  No exponent is ever
    positive, so any finite logit is safe.

    >>> import numpy as np
    >>> value, grad = BCEWithLogitsLoss()(np.array([0.0, 2.0]), np.array([1.0, 0.0]))
    >>> round(value, 6), grad.round(6).tolist()
    (1.410038, [-0.25, 0.440399])
    """

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        name = type(self).__name__
        self.weight = as_weights(name, "weight", weight, vector=False)
        self.reduction = check_reduction(name, reduction)
        self.pos_weight = as_weights(name, "pos_weight", pos_weight, vector=False)

    def _config(self) -> dict[str, Any]:
        return {"weight": None if self.weight is None else self.weight.tolist(),
                "reduction": self.reduction,
                "pos_weight": None if self.pos_weight is None else self.pos_weight.tolist()}

    def _broadcast(self, what: str, value: np.ndarray | None, x: np.ndarray) -> np.ndarray | None:
        if value is None:
            return None
        try:
            shape = np.broadcast_shapes(value.shape, x.shape)
        except ValueError:
            shape = None
        if shape != x.shape:
            raise ValueError(f"{type(self).__name__}: {what} of shape {value.shape} does not "
                             f"broadcast to the logits' shape {x.shape}")
        return value.astype(x.dtype)

    def __call__(self, outputs: np.ndarray, targets: Any) -> tuple[float, np.ndarray]:
        name = type(self).__name__
        x = check_outputs(name, outputs)
        y = matching_targets(name, x, targets)
        weight = self._broadcast("weight", self.weight, x)
        pos_weight = self._broadcast("pos_weight", self.pos_weight, x)
        e = np.exp(-np.abs(x))                   # in (0, 1]
        softplus_neg = np.maximum(-x, 0) + np.log1p(e)   # softplus(-x)
        sigmoid_neg = np.where(x >= 0, e, 1) / (1 + e)   # sigma(-x), no cancellation
        one_minus_y = 1 - y
        log_weight = 1 + (pos_weight - 1) * y if pos_weight is not None else None
        loss = one_minus_y * x
        if log_weight is None:
            loss += softplus_neg
            grad = one_minus_y - sigmoid_neg
        else:
            loss += log_weight * softplus_neg
            grad = one_minus_y - log_weight * sigmoid_neg
        if weight is not None:
            loss *= weight
            grad *= weight
        value = loss.sum()
        if self.reduction == "mean":
            with np.errstate(divide="ignore", invalid="ignore"):
                value = value / x.dtype.type(x.size)
                grad /= x.size
        return float(value), np.ascontiguousarray(grad)
