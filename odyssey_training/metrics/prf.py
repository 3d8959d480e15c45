r"""Precision, recall and F1 from confusion counts, with sklearn's semantics.

From the ``(C, C)`` counts ``M`` (rows = targets):

.. math::

    tp_c = M_{cc}, \quad \mathrm{pred}_c = \sum_i M_{ic}, \quad
    \mathrm{true}_c = \sum_j M_{cj}

    P_c = \frac{tp_c}{\mathrm{pred}_c}, \quad R_c = \frac{tp_c}{\mathrm{true}_c}, \quad
    F_c = \frac{2\,tp_c}{\mathrm{true}_c + \mathrm{pred}_c}

``average``: ``None`` (per class, an array), ``"micro"`` (sum ``tp``,
``pred``, ``true`` over classes first; equals accuracy for single-label data),
``"macro"`` (unweighted mean over all ``C`` classes), ``"weighted"`` (mean
weighted by ``true_c``; if every weight is 0, the unweighted mean),
``"binary"`` (class 1 only; needs ``num_classes=2``); ``"none"`` is
torchmetrics' spelling of ``None``.

``zero_division`` (the value of a 0/0): ``"warn"`` (0, plus an
:class:`UndefinedMetricWarning`), ``0``, ``1`` or ``nan`` (then NaN entries are
left out of macro/weighted means; all NaN gives NaN) — exactly
``sklearn.metrics.precision_recall_fscore_support(..., labels=range(C))``.

Absent classes (no targets and no predictions) are *kept*: they take part in
macro means with their ``zero_division`` value, as sklearn does when
``labels=range(C)`` is given (they do not shift the micro or weighted values).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .confusion import _ConfusionMetric

__all__ = ["Precision", "Recall", "F1Score", "precision_recall_f1", "UndefinedMetricWarning",
           "AVERAGES"]

AVERAGES = ("micro", "macro", "weighted", "binary", None)


class UndefinedMetricWarning(UserWarning):
    """A precision/recall/F1 had a 0/0 and ``zero_division="warn"`` set it to 0."""


def _check_zero_division(value: Any) -> float | str:
    if value == "warn":
        return "warn"
    if isinstance(value, str) and value.lower() == "nan":
        return math.nan
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        if math.isnan(value) or value in (0, 1):
            return float(value)
    raise ValueError(f"zero_division must be 'warn', 0, 1 or nan, got {value!r}")


def _divide(num: np.ndarray, den: np.ndarray, zero_division: float | str, what: str,
            warn: bool) -> np.ndarray:
    mask = den == 0
    out = np.asarray(num, dtype=np.float64) / np.where(mask, 1, den)
    if mask.any():
        out[mask] = 0.0 if zero_division == "warn" else zero_division
        if zero_division == "warn" and warn:
            warnings.warn(f"{what} is ill-defined (0/0) for {int(mask.sum())} of {mask.size} "
                          "entries and set to 0.0; pass zero_division to choose the value",
                          UndefinedMetricWarning, stacklevel=4)
    return out


def _nanaverage(values: np.ndarray, weights: np.ndarray | None) -> float:
    keep = ~np.isnan(values)
    if not keep.any():
        return math.nan
    if weights is not None and weights[keep].sum() > 0:
        return float(np.average(values[keep], weights=weights[keep]))
    return float(np.mean(values[keep]))


def precision_recall_f1(counts: np.ndarray, average: str | None = "macro",
                        zero_division: Any = "warn",
                        warn_for: tuple[str, ...] = ("precision", "recall", "f1")) -> tuple:
    """``(precision, recall, f1, support)`` from confusion counts (floats, or
    ``(C,)`` arrays when ``average`` is None; ``support`` is ``true_c`` then, else None)."""
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    zero_division = _check_zero_division(zero_division)
    tp = np.diagonal(counts).astype(np.int64)
    pred, true = counts.sum(axis=0), counts.sum(axis=1)
    if average == "binary":
        if counts.shape[0] != 2:
            raise ValueError(f"average='binary' needs num_classes=2, got {counts.shape[0]}")
        tp, pred, true = tp[1:], pred[1:], true[1:]
    elif average == "micro":
        tp, pred, true = tp.sum(keepdims=True), pred.sum(keepdims=True), true.sum(keepdims=True)
    precision = _divide(tp, pred, zero_division, "Precision", "precision" in warn_for)
    recall = _divide(tp, true, zero_division, "Recall", "recall" in warn_for)
    f1 = _divide(2 * tp, true + pred, zero_division, "F1-score", "f1" in warn_for)
    if average is None:
        return precision, recall, f1, true
    weights = true.astype(np.float64) if average == "weighted" else None
    return (_nanaverage(precision, weights), _nanaverage(recall, weights),
            _nanaverage(f1, weights), None)


class _PRF(_ConfusionMetric):
    higher_is_better = True
    _index = 0
    _name = ""

    def __init__(self, num_classes: int, *, average: str | None = "macro",
                 zero_division: Any = "warn", threshold: float = 0.5,
                 nan_policy: str = "raise") -> None:
        average = None if average == "none" else average   # torchmetrics' spelling of None
        if average not in AVERAGES:
            raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
        if average == "binary" and num_classes != 2:
            raise ValueError(f"average='binary' needs num_classes=2, got {num_classes}")
        self.average = average
        self.zero_division = _check_zero_division(zero_division)
        super().__init__(num_classes, threshold=threshold, nan_policy=nan_policy)

    def compute(self) -> float | np.ndarray:
        """A float, or a ``(C,)`` float64 array when ``average`` is None."""
        values = precision_recall_f1(self._state.counts, self.average, self.zero_division,
                                     warn_for=(self._name,))
        return values[self._index]

    def config(self) -> dict[str, Any]:
        zd = self.zero_division
        zd = "nan" if isinstance(zd, float) and math.isnan(zd) else zd
        return {**super().config(), "average": self.average, "zero_division": zd}


class Precision(_PRF):
    r"""Precision :math:`P_c = tp_c / \mathrm{pred}_c`, averaged per ``average``
    (see :mod:`odyssey_training.metrics.prf`); equals
    ``sklearn.metrics.precision_score(t, y, labels=range(C), average=...,
    zero_division=...)``.

    >>> import numpy as np
    >>> p = Precision(num_classes=2, average=None, zero_division=0)
    >>> p.update(np.array([0, 1, 1]), np.array([0, 0, 1]))
    >>> p.compute()
    array([1. , 0.5])
    """
    _index, _name = 0, "precision"


class Recall(_PRF):
    r"""Recall :math:`R_c = tp_c / \mathrm{true}_c`, averaged per ``average``;
    equals ``sklearn.metrics.recall_score(..., labels=range(C))``.  Macro recall
    is balanced accuracy (when every class occurs)."""
    _index, _name = 1, "recall"


class F1Score(_PRF):
    r"""F1 :math:`F_c = 2\,tp_c / (\mathrm{true}_c + \mathrm{pred}_c)` (the harmonic
    mean of :math:`P_c` and :math:`R_c`), averaged per ``average``; equals
    ``sklearn.metrics.f1_score(..., labels=range(C))``."""
    _index, _name = 2, "f1"
