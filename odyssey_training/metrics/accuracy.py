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
    """State: ``correct`` (hits) and ``total`` (rows), both ints.

    ``num_classes=None`` leaves the class count open until the first update with
    ``(N, C)`` scores sets it to ``C`` (or a merge / ``load_state_dict`` brings a
    known count); once known it stays (``reset`` keeps it), and an open count is
    compatible with any other in ``merge`` and ``load_state_dict``.
    """

    higher_is_better = True

    def __init__(self, num_classes: int | None = None, *, threshold: float = 0.5,
                 nan_policy: str = "raise") -> None:
        self.num_classes = None if num_classes is None else check_num_classes(num_classes)
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

    def _classes_for(self, preds: Any) -> int:
        """The class count this batch is read with: the known one, else the width of
        ``(N, C)`` scores (not stored here: only a successful update keeps it)."""
        if self.num_classes is not None:
            return self.num_classes
        shape = np.shape(preds)
        if len(shape) != 2:
            raise ValueError(
                f"{type(self).__name__}() was built without num_classes, so it takes the class "
                f"count from (N, C) scores, but the first batch of preds has shape {shape}; "
                f"pass num_classes=C to update with (N,) labels or binary scores")
        if shape[1] < 1:
            raise ValueError(f"preds has shape {shape}: (N, C) scores need C >= 1 columns")
        return check_num_classes(shape[1])

    def _config_compatible(self, config: dict[str, Any]) -> bool:
        mine, theirs = dict(self.config()), dict(config)
        ours_n, their_n = mine.pop("num_classes"), theirs.pop("num_classes", None)
        if their_n is not None:
            check_num_classes(their_n)
        return self._config_compatible_plain(mine, theirs) and (
            ours_n is None or their_n is None or ours_n == their_n)

    def _adopt_config(self, config: dict[str, Any]) -> None:
        if self.num_classes is None and config.get("num_classes") is not None:
            self.num_classes = check_num_classes(config["num_classes"])

    def _snapshot(self) -> Any:
        return self.num_classes, self._get_state()

    def _restore(self, snapshot: Any) -> None:
        self.num_classes, state = snapshot
        self._set_state(state)

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
        self._adopt_config(other.config())

    def _add(self, correct: int, total: int) -> None:
        """Counts computed elsewhere (a collection's shared confusion pass)."""
        self.correct += correct
        self.total += total


class Accuracy(_HitRate):
    r"""Fraction of rows whose prediction equals the target.

    ``preds``: ``(N, C)`` scores (prediction = first argmax), ``(N,)`` labels, or
    ``(N,)`` binary scores (prediction = ``score > threshold``, ``num_classes=2``).
    Without ``num_classes`` the class count is the width ``C`` of the first
    ``(N, C)`` scores (the original library's ``Accuracy()``).

    >>> import numpy as np
    >>> acc = Accuracy()
    >>> acc.update(np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]), np.array([1, 2]))
    >>> acc.compute(), acc.num_classes
    (0.5, 3)
    """

    def _update(self, preds: Any, targets: Any) -> None:
        classes = self._classes_for(preds)
        kind, preds, targets = prepare(preds, targets, classes)
        hits = _native.count(kind, "hits", preds, targets, classes,
                             threshold=self.threshold, nan_policy=self.nan_policy)
        self.num_classes = classes
        self._add(hits, targets.shape[0])


class TopKAccuracy(_HitRate):
    r"""Fraction of rows whose target is among the ``k`` highest scores (ties:
    the higher class ranks first, as sklearn).  ``preds`` must be ``(N, C)``
    scores; ``k >= num_classes`` counts every row as a hit.  ``top_k=`` is
    torchmetrics' spelling of ``k``; without ``num_classes`` the class count is
    the width of the first scores.

    >>> import numpy as np
    >>> top2 = TopKAccuracy(k=2)
    >>> top2.update(np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]), np.array([2, 2]))
    >>> top2.compute()
    0.5
    """

    def __init__(self, num_classes: int | None = None, *, k: int | None = None,
                 top_k: int | None = None, nan_policy: str = "raise") -> None:
        if k is not None and top_k is not None:
            raise TypeError(f"TopKAccuracy() got both k={k!r} and top_k={top_k!r}; pass one "
                            "of them (top_k is torchmetrics' name for k)")
        k = 5 if k is None and top_k is None else (k if k is not None else top_k)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        super().__init__(num_classes, nan_policy=nan_policy)
        self.k = int(k)

    def _update(self, preds: Any, targets: Any) -> None:
        classes = self._classes_for(preds)
        kind, preds, targets = prepare(preds, targets, classes)
        if kind != "scores":
            raise ValueError(f"TopKAccuracy needs (N, {classes}) scores, got "
                             f"(N,) {'labels' if kind == 'labels' else 'binary scores'}")
        hits = _native.count(kind, "topk", preds, targets, classes, k=self.k,
                             nan_policy=self.nan_policy)
        self.num_classes = classes
        self._add(hits, targets.shape[0])

    def config(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "k": self.k, "nan_policy": self.nan_policy}
