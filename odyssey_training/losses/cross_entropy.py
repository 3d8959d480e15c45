"""Cross-entropy on logits, as ``torch.nn.CrossEntropyLoss``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Loss, as_weights, check_outputs, check_reduction

__all__ = ["CrossEntropyLoss", "log_softmax"]


def log_softmax(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(log p, p)`` row-wise for logits ``x`` of shape (N, C), stably:
    :math:`\\log p_{nc} = (x_{nc} - m_n) - \\log \\sum_k e^{x_{nk} - m_n}` with
    :math:`m_n = \\max_k x_{nk}` (log-sum-exp), so no exponent exceeds 0."""
    c = x.shape[1]
    # NumPy reduces a short contiguous row slowly (a call per row): for a few classes
    # the max over the first axis of a transposed copy is several times faster
    row_max = np.ascontiguousarray(x.T).max(axis=0)[:, None] if c <= 32 else (
        x.max(axis=1, keepdims=True))
    shifted = x - row_max
    p = np.exp(shifted)
    total = p.sum(axis=1, keepdims=True)
    shifted -= np.log(total)
    p /= total
    return shifted, p


class CrossEntropyLoss(Loss):
    r"""Softmax cross-entropy of (N, C) logits ``x``, as ``torch.nn.CrossEntropyLoss``.

    With :math:`\log p = \operatorname{log\_softmax}(x)` (log-sum-exp, stable for
    any finite logits), class weights :math:`w` (``weight``, default all ones),
    smoothing :math:`\varepsilon` (``label_smoothing``) and :math:`C` classes:

    **Class-index targets** :math:`y_n` (an integer array of shape (N,)); rows with
    :math:`y_n` = ``ignore_index`` count nowhere (:math:`v_n = 0`, else 1):

    .. math::

        \ell_n &= -(1-\varepsilon)\, w_{y_n} \log p_{n y_n}
                  - \frac{\varepsilon}{C} \sum_c w_c \log p_{nc} \\
        \text{mean} &= \frac{\sum_n v_n \ell_n}{\sum_n v_n w_{y_n}}, \qquad
        \text{sum} = \sum_n v_n \ell_n \\
        \frac{\partial \ell_n}{\partial x_{nk}} &=
            \Big((1-\varepsilon) w_{y_n} + \tfrac{\varepsilon}{C}\textstyle\sum_c w_c\Big) p_{nk}
            - (1-\varepsilon) w_{y_n} [k = y_n] - \tfrac{\varepsilon}{C} w_k

    (the mean divides by the summed weight of the counted rows, torch's
    weighted mean; with every row ignored it is NaN and the gradient 0, as torch).

    **Probability targets** :math:`t` (a float array of shape (N, C)), smoothed to
    :math:`t' = (1-\varepsilon) t + \varepsilon / C`:

    .. math::

        \ell_n = -\sum_c w_c t'_{nc} \log p_{nc}, \qquad
        \text{mean} = \frac{1}{N}\sum_n \ell_n, \qquad
        \frac{\partial \ell_n}{\partial x_{nk}} = p_{nk} \sum_c w_c t'_{nc} - w_k t'_{nk}

    ``ignore_index`` must be negative with probability targets (torch's rule).

    >>> import numpy as np
    >>> loss = CrossEntropyLoss(label_smoothing=0.1)
    >>> value, grad = loss(np.array([[2.0, 0.0, -1.0]]), np.array([0]))
    >>> round(value, 6), grad.round(4).tolist()
    (0.336513, [[-0.0895, 0.0809, 0.0087]])
    """

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        name = type(self).__name__
        self.weight = as_weights(name, "weight", weight, vector=True)
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            raise TypeError(f"{name}: ignore_index must be an int, got {ignore_index!r}")
        self.ignore_index = int(ignore_index)
        self.reduction = check_reduction(name, reduction)
        if isinstance(label_smoothing, bool) or not isinstance(
                label_smoothing, (int, float, np.floating, np.integer)) or not (
                0.0 <= label_smoothing <= 1.0):
            raise ValueError(f"{name}: label_smoothing must be a number in [0, 1], got "
                             f"{label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        self._weights: dict[np.dtype, np.ndarray] = {}

    def _config(self) -> dict[str, Any]:
        weight = None if self.weight is None else self.weight.tolist()
        return {"weight": weight, "ignore_index": self.ignore_index,
                "reduction": self.reduction, "label_smoothing": self.label_smoothing}

    def __call__(self, outputs: np.ndarray, targets: Any) -> tuple[float, np.ndarray]:
        name = type(self).__name__
        x = check_outputs(name, outputs)
        if x.ndim != 2 or x.shape[1] == 0:
            raise ValueError(f"{name}: outputs must be logits of shape (N, C) with C >= 1, "
                             f"got shape {x.shape}")
        n, c = x.shape
        weight = None
        if self.weight is not None:
            if self.weight.shape != (c,):
                raise ValueError(f"{name}: weight has {self.weight.size} entries but the "
                                 f"logits have {c} classes")
            weight = self._weights.get(x.dtype)
            if weight is None:
                weight = self._weights.setdefault(x.dtype, self.weight.astype(x.dtype))
        if not isinstance(targets, np.ndarray):
            targets = np.asarray(targets)
        if targets.dtype.kind in "iu" and targets.shape == (n,):
            return self._class_indices(x, targets, weight)
        if targets.dtype.kind == "f" and targets.shape == (n, c):
            if self.ignore_index >= 0:
                raise ValueError(f"{name}: ignore_index={self.ignore_index} is not supported "
                                 "with probability targets")
            return self._probabilities(x, targets.astype(x.dtype, copy=False), weight)
        raise ValueError(f"{name}: targets must be class indices (an integer array of shape "
                         f"({n},)) or class probabilities (a float array of shape ({n}, {c})); "
                         f"got {targets.dtype} of shape {targets.shape}")

    def _class_indices(self, x: np.ndarray, targets: np.ndarray,
                       weight: np.ndarray | None) -> tuple[float, np.ndarray]:
        n, c = x.shape
        ignore = self.ignore_index
        lo, hi = (int(targets.min()), int(targets.max())) if n else (0, 0)
        if lo >= 0 and hi < c and not lo <= ignore <= hi:
            valid = None                       # every row counts (the common case)
            labels = targets
        else:
            valid = targets != ignore
            labels = np.where(valid, targets, 0)
            bad = labels[(labels < 0) | (labels >= c)]
            if bad.size:
                raise ValueError(f"{type(self).__name__}: target {bad[0]} is out of range "
                                 f"for {c} classes (ignore_index={ignore})")
        logp, grad = log_softmax(x)
        if weight is None and valid is None:
            return self._plain(logp, grad, labels)
        eps = self.label_smoothing
        rows = np.arange(n)
        mask = np.ones(n, x.dtype) if valid is None else valid.astype(x.dtype)
        picked = weight[labels] * mask if weight is not None else mask
        log_target = logp[rows, labels]
        if valid is not None:
            log_target[~valid] = 0             # an ignored row's -inf must not reach the sum
        value = -(picked * log_target).sum()
        if eps:
            smooth = -(logp @ weight if weight is not None else logp.sum(axis=1))
            if valid is not None:
                smooth[~valid] = 0
            value = (1 - eps) * value + eps / c * smooth.sum()
        total_weight = c if weight is None else weight.sum()
        grad *= ((1 - eps) * picked + (eps / c * total_weight) * mask)[:, None]
        grad[rows, labels] -= (1 - eps) * picked
        if eps:
            grad -= (eps / c) * (weight if weight is not None else 1) * mask[:, None]
        if self.reduction == "mean":
            value = _divide(value, grad, picked.sum())
        if valid is not None:
            grad[~valid] = 0
        return float(value), grad

    def _plain(self, logp: np.ndarray, grad: np.ndarray,
               labels: np.ndarray) -> tuple[float, np.ndarray]:
        """No class weights, no ignored row: the same math in fewer passes."""
        n, c = logp.shape
        eps = self.label_smoothing
        rows = np.arange(n)
        value = -logp[rows, labels].sum()
        if eps:
            value = (1 - eps) * value - eps / c * logp.sum()
            grad -= eps / c
        grad[rows, labels] -= 1 - eps
        if self.reduction == "mean":
            value = _divide(value, grad, n)
        return float(value), grad

    def _probabilities(self, x: np.ndarray, targets: np.ndarray,
                       weight: np.ndarray | None) -> tuple[float, np.ndarray]:
        n, c = x.shape
        eps = self.label_smoothing
        if eps:
            targets = targets * (1 - eps) + eps / c
        weighted = targets * weight if weight is not None else targets
        logp, grad = log_softmax(x)
        value = -(logp * weighted).sum()
        grad *= weighted.sum(axis=1, keepdims=True)
        grad -= weighted
        if self.reduction == "mean":
            value = _divide(value, grad, n)
        return float(value), grad


def _divide(value: Any, grad: np.ndarray, denominator: Any) -> Any:
    """``value / denominator`` and ``grad /= denominator``; a zero denominator (an
    empty batch, every row ignored) gives NaN/inf as torch does, without warnings."""
    if denominator:
        grad /= denominator
        return value / denominator
    with np.errstate(divide="ignore", invalid="ignore"):
        grad /= grad.dtype.type(denominator)
        return value / grad.dtype.type(denominator)
