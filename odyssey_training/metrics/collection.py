"""``MetricCollection``: several metrics updated together, one pass per batch.

Members computed from confusion counts (ConfusionMatrix, Precision, Recall,
F1Score) that agree on ``(num_classes, threshold, nan_policy)`` are re-bound to
one shared :class:`~odyssey_training.metrics.confusion.ConfusionState`, so a
batch is counted once however many of them there are; an ``Accuracy`` with the
same settings is fed from that pass too (the kernel counts the rows whose
prediction equals the target, the growth of the matrix's trace); an ``Accuracy()``
built without ``num_classes`` joins that pass once its first batch has told it the
class count.  Other members (TopKAccuracy, Accuracy without a matching matrix) run
their own kernel; ``LossTracker`` members take ``loss=``.

Members that share a state stay linked: update and reset them through the
collection (updating one member directly updates its partners too).  An
update is all or nothing across the members (see :meth:`MetricCollection.update`).
"""

from __future__ import annotations

import re
from typing import Any, ItemsView, Iterator, Mapping, Sequence

import numpy as np

from .accuracy import Accuracy
from .base import Metric
from .confusion import ConfusionState, _ConfusionMetric
from .loss import LossTracker

__all__ = ["MetricCollection"]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower().replace("f1_score", "f1")


class MetricCollection:
    """A named group of metrics: ``update(preds, targets, loss=None)``,
    ``compute() -> {name: value}``, ``reset()``, ``merge(other)``, ``state_dict()``.

    >>> import numpy as np
    >>> from odyssey_training.metrics import Accuracy, F1Score, Precision
    >>> mc = MetricCollection([Accuracy(num_classes=2), Precision(num_classes=2),
    ...                        F1Score(num_classes=2)])
    >>> mc.update(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([0, 1, 1]))
    >>> {k: round(v, 3) for k, v in mc.compute().items()}
    {'accuracy': 0.667, 'precision': 0.75, 'f1': 0.667}
    """

    def __init__(self, metrics: Mapping[str, Metric] | Sequence[Metric]) -> None:
        if isinstance(metrics, Mapping):
            items = list(metrics.items())
        else:
            items = [(_snake(type(m).__name__), m) for m in metrics]
            names = [n for n, _ in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"two members would be named {dupes[0]!r}; pass a dict "
                                 "{name: metric} instead")
        for name, metric in items:
            if not isinstance(name, str) or not isinstance(metric, Metric):
                raise TypeError(f"members are name -> Metric, got {name!r}: {metric!r}")
        if len({id(m) for _, m in items}) != len(items):
            raise ValueError("the same metric object is listed twice")
        self._metrics: dict[str, Metric] = dict(items)
        self._states: list[ConfusionState] = []
        self._fed: dict[int, list[Accuracy]] = {}   # id(state) -> accuracies fed by it
        self._share()

    def _share(self) -> None:
        self._states, self._fed = [], {}
        by_key: dict[tuple, ConfusionState] = {}
        for name, m in self._metrics.items():
            if not isinstance(m, _ConfusionMetric):
                continue
            shared = by_key.get(m._state.key)
            if shared is None:
                by_key[m._state.key] = m._state
                self._states.append(m._state)
            elif not np.array_equal(shared.counts, m._state.counts):
                raise ValueError(f"{name!r} already holds different counts than a metric it "
                                 "would share a confusion state with; reset() them first")
            else:
                m._state = shared
        for m in self._metrics.values():
            if type(m) is Accuracy:
                state = by_key.get((m.num_classes, m.threshold, m.nan_policy))
                if state is not None:
                    self._fed.setdefault(id(state), []).append(m)
        self._independent = [m for m in self._metrics.values()
                             if not isinstance(m, (_ConfusionMetric, LossTracker))
                             and not any(m is a for fed in self._fed.values() for a in fed)]
        # an Accuracy() learns its class count from its first batch; then it can join a pass
        self._open = [m for m in self._independent if type(m) is Accuracy
                      and m.num_classes is None and by_key]

    def update(self, preds: Any, targets: Any, loss: Any = None) -> None:
        """One pass per shared state, then the other members; ``loss`` (a number or
        per-sample losses) goes to LossTracker members.  All or nothing: if any
        member rejects the batch, the members updated before it are rolled back
        (confusion counts by an exact ``delta = -1`` pass) and the error re-raised."""
        undo: list = []
        try:
            for state in self._states:
                rows, hits = state.update(preds, targets)
                undo.append(lambda s=state: s.update(preds, targets, sign=-1))
                for acc in self._fed.get(id(state), ()):
                    acc._add(hits, rows)
                    undo.append(lambda a=acc, h=hits, r=rows: a._add(-h, -r))
            trackers = [m for m in self._metrics.values() if isinstance(m, LossTracker)]
            for m in self._independent + (trackers if loss is not None else []):
                saved = m._snapshot()
                undo.append(lambda m=m, saved=saved: m._restore(saved))
                if isinstance(m, LossTracker):
                    m.update(loss)
                else:
                    m.update(preds, targets)
        except BaseException:
            for step in reversed(undo):
                step()
            raise
        self._settle()

    def _settle(self) -> None:
        """Re-bind the members once an open Accuracy knows its class count."""
        if any(m.num_classes is not None for m in self._open):
            self._share()

    def compute(self) -> dict[str, Any]:
        return {name: m.compute() for name, m in self._metrics.items()}

    def reset(self) -> None:
        for m in self._metrics.values():
            m.reset()

    def merge(self, other: "MetricCollection") -> "MetricCollection":
        """Add ``other``'s states (same names and configs) into this collection."""
        if not isinstance(other, MetricCollection) or list(other) != list(self):
            raise ValueError("can only merge a MetricCollection with the same member names")
        for name, m in self._metrics.items():
            m._check_compatible(other[name])
        done: set[int] = set()
        for name, m in self._metrics.items():
            if isinstance(m, _ConfusionMetric):
                if id(m._state) in done:
                    continue
                done.add(id(m._state))
            m.merge(other[name])
        self._settle()
        return self

    def state_dict(self) -> dict[str, dict[str, Any]]:
        return {name: m.state_dict() for name, m in self._metrics.items()}

    def load_state_dict(self, state_dict: Mapping[str, dict[str, Any]]) -> None:
        if set(state_dict) != set(self._metrics):
            raise ValueError(f"state_dict has members {sorted(state_dict)}, this collection "
                             f"has {sorted(self._metrics)}")
        for name, m in self._metrics.items():
            m.load_state_dict(state_dict[name])
        self._settle()

    def __getitem__(self, name: str) -> Metric:
        return self._metrics[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._metrics)

    def __len__(self) -> int:
        return len(self._metrics)

    def items(self) -> ItemsView[str, Metric]:
        return self._metrics.items()

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={m!r}" for n, m in self._metrics.items())
        return f"MetricCollection({inner})"
