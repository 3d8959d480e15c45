"""Confusion counts and the metrics computed from them.

:class:`ConfusionState` holds the int64 ``(C, C)`` matrix ``M`` with
:math:`M_{ij} = \\#\\{n : t_n = i,\\ \\hat y_n = j\\}` (rows = targets, columns =
predictions, as ``sklearn.metrics.confusion_matrix``).  One native pass per
batch fills it: :math:`\\hat y_n = \\operatorname{argmax}_j x_{nj}` for ``(N, C)``
scores (the first maximum), :math:`\\hat y_n = p_n` for ``(N,)`` labels,
:math:`\\hat y_n = [s_n > \\tau]` for ``(N,)`` binary scores.  ConfusionMatrix,
Precision, Recall and F1Score are views of such a state; in a
:class:`~odyssey_training.metrics.MetricCollection` they share one.

NaN scores: with ``nan_policy="raise"`` (default) a batch containing a NaN
score is rejected with ``ValueError`` and nothing is counted; with ``"max"`` a
NaN counts as the largest score (a row predicts its first NaN, a binary NaN
score predicts 1), which is ``numpy.argmax``'s and ``torch.argmax``'s rule.
Labels outside ``[0, C)`` always reject the batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _native
from ._inputs import check_nan_policy, check_num_classes, check_threshold, prepare
from .base import Metric

__all__ = ["ConfusionState", "ConfusionMatrix", "NORMALIZE"]

NORMALIZE = (None, "true", "pred", "all")


class ConfusionState:
    """The shared ``(C, C)`` counts; ``key`` says which metrics may share it."""

    def __init__(self, num_classes: int, threshold: float, nan_policy: str) -> None:
        self.num_classes, self.threshold, self.nan_policy = num_classes, threshold, nan_policy
        self.counts = np.zeros((num_classes, num_classes), dtype=np.int64)

    @property
    def key(self) -> tuple[int, float, str]:
        return self.num_classes, self.threshold, self.nan_policy

    def update(self, preds: Any, targets: Any, sign: int = 1) -> tuple[int, int]:
        """Count a batch (``sign=-1``: remove a batch counted before, exactly);
        returns ``(rows, hits)``, hits being the growth of the trace."""
        kind, preds, targets = prepare(preds, targets, self.num_classes)
        hits = _native.count(kind, "confusion", preds, targets, self.num_classes,
                             counts=self.counts, threshold=self.threshold,
                             nan_policy=self.nan_policy, sign=sign)
        return targets.shape[0], hits

    def reset(self) -> None:
        self.counts.fill(0)

    def load(self, counts: Any) -> None:
        counts = np.asarray(counts)
        shape = (self.num_classes, self.num_classes)
        if counts.shape != shape or counts.dtype.kind not in "iu":
            raise ValueError(f"counts must be an integer array of shape {shape}, got "
                             f"{counts.dtype} {counts.shape}")
        if counts.size and counts.min() < 0:
            raise ValueError("counts must be >= 0")
        self.counts[...] = counts


class _ConfusionMetric(Metric):
    """A metric computed from confusion counts (shared inside a collection)."""

    def __init__(self, num_classes: int, *, threshold: float = 0.5,
                 nan_policy: str = "raise") -> None:
        self._state = ConfusionState(check_num_classes(num_classes), check_threshold(threshold),
                                     check_nan_policy(nan_policy))

    @property
    def num_classes(self) -> int:
        return self._state.num_classes

    @property
    def counts(self) -> np.ndarray:
        """The raw int64 ``(C, C)`` counts (a read-only view)."""
        view = self._state.counts.view()
        view.flags.writeable = False
        return view

    def _update(self, preds: Any, targets: Any) -> None:
        self._state.update(preds, targets)

    def reset(self) -> None:
        self._state.reset()

    def config(self) -> dict[str, Any]:
        return {"num_classes": self._state.num_classes, "threshold": self._state.threshold,
                "nan_policy": self._state.nan_policy}

    def _get_state(self) -> dict[str, Any]:
        return {"counts": self._state.counts.copy()}

    def _set_state(self, state: dict[str, Any]) -> None:
        if set(state) != {"counts"}:
            raise ValueError(f"state must have exactly the key 'counts', got {sorted(state)}")
        self._state.load(state["counts"])

    def _merge_state(self, other: Metric) -> None:
        if other._state is not self._state:  # sharing one state: already merged
            self._state.counts += other._state.counts


class ConfusionMatrix(_ConfusionMetric):
    r"""The ``(C, C)`` confusion matrix, rows = targets, columns = predictions.

    .. math::

        M_{ij} = \#\{n : t_n = i,\ \hat y_n = j\}, \qquad
        \text{normalize} = \begin{cases}
            \text{"true"}: & M_{ij} / \sum_k M_{ik} \\
            \text{"pred"}: & M_{ij} / \sum_k M_{kj} \\
            \text{"all"}:  & M_{ij} / \sum_{kl} M_{kl}
        \end{cases}

    with 0/0 = 0, as ``sklearn.metrics.confusion_matrix(..., labels=range(C),
    normalize=...)`` (``normalize="none"``, torchmetrics' spelling, is None).
    ``compute()`` returns int64 counts when ``normalize`` is None, float64 otherwise.

    >>> import numpy as np
    >>> cm = ConfusionMatrix(num_classes=3)
    >>> cm.update(np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 3.0]]), np.array([0, 1]))
    >>> cm.compute()
    array([[1, 0, 0],
           [0, 0, 1],
           [0, 0, 0]])
    """

    def __init__(self, num_classes: int, *, normalize: str | None = None,
                 threshold: float = 0.5, nan_policy: str = "raise") -> None:
        normalize = None if normalize == "none" else normalize   # torchmetrics' spelling
        if normalize not in NORMALIZE:
            raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
        super().__init__(num_classes, threshold=threshold, nan_policy=nan_policy)
        self.normalize = normalize

    def compute(self) -> np.ndarray:
        return normalize_counts(self._state.counts, self.normalize)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "normalize": self.normalize}


def normalize_counts(counts: np.ndarray, normalize: str | None) -> np.ndarray:
    """``counts`` divided by its row sums ("true"), column sums ("pred") or total
    ("all"); 0/0 is 0.  ``None`` returns an int64 copy."""
    if normalize is None:
        return counts.copy()
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
    with np.errstate(all="ignore"):
        if normalize == "true":
            out = counts / counts.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            out = counts / counts.sum(axis=0, keepdims=True)
        else:
            out = counts / counts.sum()
    return np.nan_to_num(out)
