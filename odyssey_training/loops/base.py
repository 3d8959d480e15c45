"""What the loops need from a model, and how they hold metrics and timings.

The loops are framework-agnostic: a model is anything with ``parameters()``,
``forward(inputs, training)`` and ``backward(grad_outputs)`` (which accumulates
into each ``Parameter.grad``): a NumPy model, a torch adapter, anything.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from ..metrics import Metric, MetricCollection
from ..parameter import Parameter

__all__ = ["Model", "check_model", "as_collection", "scalar_logs", "fresh_copy", "Timings", "BatchMean",
           "PHASES", "RESERVED_LOG_NAMES"]

#: names the loops write themselves; a metric may not take them
RESERVED_LOG_NAMES = ("loss", "lr")


@runtime_checkable
class Model(Protocol):
    """The three methods a loop calls.

    A model may also have ``buffers() -> dict[str, np.ndarray]``: its non-trainable
    state that training updates in place (BatchNorm's running statistics), as arrays
    by name; checkpoints save them and restore them in place, so a resumed run
    continues exactly (``interop.torch.TorchModel`` has it).
    """

    def parameters(self) -> list[Parameter]: ...

    def forward(self, inputs: Any, training: bool = True) -> Any: ...

    def backward(self, grad_outputs: Any) -> None: ...


def check_model(model: Any) -> None:
    """TypeError naming what ``model`` lacks of the :class:`Model` protocol."""
    missing = [m for m in ("parameters", "forward", "backward")
               if not callable(getattr(model, m, None))]
    if missing:
        raise TypeError(f"model {type(model).__name__} lacks {', '.join(missing)} (a model "
                        "has parameters(), forward(inputs, training) and backward(grad_outputs))")


def as_collection(metrics: Any) -> MetricCollection:
    """``metrics`` (None, a dict name -> Metric, a list of Metrics with default names,
    or a MetricCollection) as a MetricCollection whose names are valid log keys."""
    if metrics is None:
        collection = MetricCollection({})
    elif isinstance(metrics, MetricCollection):
        collection = metrics
    elif isinstance(metrics, Metric):
        collection = MetricCollection([metrics])
    elif isinstance(metrics, (Mapping, Sequence)) and not isinstance(metrics, str):
        collection = MetricCollection(metrics)
    else:
        raise TypeError(f"metrics must be a dict name -> Metric, a list of Metrics or a "
                        f"MetricCollection, got {type(metrics).__name__}")
    for name in collection:
        if name in RESERVED_LOG_NAMES or name.startswith("val_"):
            raise ValueError(f"metric name {name!r} is taken by the loop's own logs "
                             f"({', '.join(RESERVED_LOG_NAMES)}, val_*); choose another")
    return collection


def fresh_copy(collection: MetricCollection) -> MetricCollection:
    """The same metrics (same configuration and sharing), with empty states."""
    members = {}
    for name, metric in collection.items():
        twin = copy.deepcopy(metric)
        twin.reset()
        members[name] = twin
    return MetricCollection(members)     # re-links members that share a confusion pass


def scalar_logs(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The scalar values of ``values`` as floats (arrays such as a confusion matrix
    or per-class scores stay in the metric objects, as Keras logs only scalars)."""
    out = {}
    for name, value in values.items():
        if isinstance(value, (int, float, np.integer, np.floating)) or (
                isinstance(value, np.ndarray) and value.ndim == 0):
            out[prefix + name] = float(value)
    return out


class BatchMean:
    """The loop's loss of an epoch: ``sum(value * weight) / sum(weight)`` over batches
    weighted by their size, as Keras's ``Mean`` tracks the loss (NaN before any batch).
    Two additions per batch: the loop calls it on every training batch."""

    __slots__ = ("total", "count")

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, value: float, weight: int = 1) -> None:
        self.total += value * weight
        self.count += weight

    def compute(self) -> float:
        return self.total / self.count if self.count else math.nan

    def state_dict(self) -> dict[str, Any]:
        return {"total": float(self.total), "count": int(self.count)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        total, count = (state.get("total"), state.get("count")) if isinstance(
            state, Mapping) else (None, None)
        if isinstance(total, bool) or not isinstance(total, (int, float)) or isinstance(
                count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"a BatchMean state is {{'total': float, 'count': int >= 0}}, "
                             f"got {state!r}")
        self.total, self.count = float(total), count


#: where a training step's time goes (see :class:`Timings`)
PHASES = ("data", "forward", "loss", "backward", "metrics", "optimizer", "callbacks")


class Timings:
    """Seconds spent per phase of the training batches since :meth:`reset`, plus the
    batch and sample counts; ``total`` is the wall time of those batches, so
    ``total - sum(phases)`` is the loop's own bookkeeping.  Read by
    ``ThroughputMonitor`` and the loop-overhead benchmark."""

    __slots__ = ("seconds", "batches", "samples", "total", "_start")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.batches = 0
        self.samples = 0
        self.total = 0.0
        self._start = time.perf_counter()

    def other(self) -> float:
        """Time inside the batch loop that no phase accounts for (the loop itself)."""
        return max(0.0, self.total - math.fsum(self.seconds.values()))

    def as_dict(self) -> dict[str, float]:
        return {**self.seconds, "other": self.other(), "total": self.total,
                "batches": self.batches, "samples": self.samples}
