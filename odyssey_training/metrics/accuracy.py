r"""Accuracy and top-k accuracy: a hit count and a row count.

.. math::

    \mathrm{Accuracy} = \frac{1}{N}\sum_n [\hat y_n = t_n], \qquad
    \mathrm{TopK} = \frac{1}{N}\sum_n [r_n < k], \quad
    r_n = \#\{j : x_{nj} > x_{nt_n}\} + \#\{j > t_n : x_{nj} = x_{nt_n}\}

``Accuracy`` uses the first maximum of each row (``numpy.argmax``), equals
``sklearn.metrics.accuracy_score``; ``TopKAccuracy`` ranks equal scores by
class number, higher first, which is what ``sklearn.metrics.top_k_accuracy_score``
does — so with tied maxima ``TopKAccuracy(k=1)`` may differ from ``Accuracy``.
Both are 0.0 before any row was seen (torchmetrics' and Keras' convention).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _native
from ._inputs import check_nan_policy, check_num_classes, check_threshold, prepare
from .base import Metric

__all__ = ["Accuracy", "TopKAccuracy"]


class _HitRate(Metric):
    """State: ``correct`` (hits) and ``total`` (rows), both ints."""

    higher_is_better = True

    def __init__(self, num_classes: int, *, threshold: float = 0.5,
                 nan_policy: str = "raise") -> None:
        self.num_classes = check_num_classes(num_classes)
        self.threshold = check_threshold(threshold)
        self.nan_policy = check_nan_policy(nan_policy)
        self.correct = 0
        self.total = 0

    def compute(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def reset(self) -> None:
        self.correct = self.total = 0

    def config(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "threshold": self.threshold,
                "nan_policy": self.nan_policy}

    def _get_state(self) -> dict[str, Any]:
        return {"correct": self.correct, "total": self.total}

    def _set_state(self, state: dict[str, Any]) -> None:
        if set(state) != {"correct", "total"}:
            raise ValueError(f"state must have the keys 'correct' and 'total', got "
                             f"{sorted(state)}")
        correct, total = state["correct"], state["total"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (correct, total)):
            raise TypeError("'correct' and 'total' must be ints")
        if not 0 <= correct <= total:
            raise ValueError(f"need 0 <= correct <= total, got {correct}, {total}")
        self.correct, self.total = correct, total

    def _merge_state(self, other: Metric) -> None:
        self.correct += other.correct
        self.total += other.total

    def _add(self, correct: int, total: int) -> None:
        """Counts computed elsewhere (a collection's shared confusion pass)."""
        self.correct += correct
        self.total += total


class Accuracy(_HitRate):
    r"""Fraction of rows whose prediction equals the target.

    ``preds``: ``(N, C)`` scores (prediction = first argmax), ``(N,)`` labels, or
    ``(N,)`` binary scores (prediction = ``score > threshold``, ``num_classes=2``).

    >>> import numpy as np
    >>> acc = Accuracy(num_classes=3)
    >>> acc.update(np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]), np.array([1, 2]))
    >>> acc.compute()
    0.5
    """

    def _update(self, preds: Any, targets: Any) -> None:
        kind, preds, targets = prepare(preds, targets, self.num_classes)
        hits = _native.count(kind, "hits", preds, targets, self.num_classes,
                             threshold=self.threshold, nan_policy=self.nan_policy)
        self._add(hits, targets.shape[0])


class TopKAccuracy(_HitRate):
    r"""Fraction of rows whose target is among the ``k`` highest scores (ties:
    the higher class ranks first, as sklearn).  ``preds`` must be ``(N, C)``
    scores; ``k >= num_classes`` counts every row as a hit.

    >>> import numpy as np
    >>> top2 = TopKAccuracy(num_classes=3, k=2)
    >>> top2.update(np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]), np.array([2, 2]))
    >>> top2.compute()
    0.5
    """

    def __init__(self, num_classes: int, *, k: int = 5, nan_policy: str = "raise") -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        super().__init__(num_classes, nan_policy=nan_policy)
        self.k = int(k)

    def _update(self, preds: Any, targets: Any) -> None:
        kind, preds, targets = prepare(preds, targets, self.num_classes)
        if kind != "scores":
            raise ValueError(f"TopKAccuracy needs (N, {self.num_classes}) scores, got "
                             f"(N,) {'labels' if kind == 'labels' else 'binary scores'}")
        hits = _native.count(kind, "topk", preds, targets, self.num_classes, k=self.k,
                             nan_policy=self.nan_policy)
        self._add(hits, targets.shape[0])

    def config(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "k": self.k, "nan_policy": self.nan_policy}
