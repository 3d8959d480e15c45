"""``evaluate``: the loss and metrics of a model on data, in inference mode."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ..metrics import MetricCollection
from .base import BatchMean, as_collection, check_model, scalar_logs

__all__ = ["evaluate", "run_evaluation"]


def run_evaluation(model: Any, data: Iterable, loss: Any, metrics: MetricCollection,
                   callbacks: Any, reduce: Callable[[BatchMean, MetricCollection], None]
                   | None = None) -> dict[str, float]:
    """Reset ``metrics``, run every batch of ``data`` through ``model.forward(x,
    training=False)`` and return ``{"loss": batch-size-weighted mean, name: value}``
    (scalar metric values; the metric objects keep the rest, e.g. a confusion
    matrix).  ``callbacks`` (or None) get the validation batch hooks; ``reduce``
    (or None) is given the loss tracker and the metrics before they are computed
    (a distributed loop merges the ranks' states there)."""
    metrics.reset()
    mean = BatchMean()
    hooks = callbacks is not None and (callbacks._calls["on_validation_batch_begin"]
                                       or callbacks._calls["on_validation_batch_end"])
    for batch, (inputs, targets) in enumerate(data):
        if hooks:
            callbacks.on_validation_batch_begin(batch, None)
        outputs = model.forward(inputs, training=False)
        value, _ = loss(outputs, targets)
        size = len(targets)
        mean.update(value, weight=size)
        if len(metrics):
            metrics.update(outputs, targets)
        if hooks:
            callbacks.on_validation_batch_end(batch, {"batch": batch, "size": size,
                                                      "loss": value})
    if reduce is not None:
        reduce(mean, metrics)
    return {"loss": mean.compute(), **scalar_logs(metrics.compute())}


def evaluate(model: Any, data: Iterable, loss: Any = None, metrics: Any = None) -> dict[str, float]:
    """``{"loss": ..., "acc": ...}`` of ``model`` on ``data`` (an iterable of
    ``(inputs, targets)`` batches): the loss averaged over samples, each metric's
    scalar value.  ``loss`` defaults to ``CrossEntropyLoss()``; ``metrics`` is a dict
    name -> Metric, a list of Metrics or a MetricCollection (their state is reset
    first and holds the data's counts afterwards)."""
    check_model(model)
    if loss is None:
        from ..losses import CrossEntropyLoss
        loss = CrossEntropyLoss()
    return run_evaluation(model, data, loss, as_collection(metrics), None)
