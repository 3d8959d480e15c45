"""Training metrics whose per-batch work runs in generated native kernels.

Every classification metric reduces a batch with one kernel compiled from a
spec in ``specs/metrics/`` (row argmax / top-k rank / threshold, then a
confusion-count or hit-count sink): one pass over the scores, no temporaries,
float32/float64 scores, int32/int64 labels, large batches split over threads.

>>> import numpy as np
>>> from odyssey_training.metrics import Accuracy, F1Score
>>> logits = np.array([[2.0, 0.5, 0.1], [0.2, 0.1, 3.0], [0.3, 1.5, 0.2]])
>>> acc, f1 = Accuracy(num_classes=3), F1Score(num_classes=3, average="macro")
>>> for m in (acc, f1):
...     m.update(logits, np.array([0, 2, 2]))
>>> acc.compute(), round(f1.compute(), 4)
(0.6666666666666666, 0.5556)

See docs/metrics.md for the NaN, absent-class and zero_division rules.
"""

from .accuracy import Accuracy, TopKAccuracy
from .base import Metric
from .collection import MetricCollection
from .confusion import ConfusionMatrix, ConfusionState
from .loss import LossTracker
from .prf import F1Score, Precision, Recall, UndefinedMetricWarning, precision_recall_f1

__all__ = ["Metric", "Accuracy", "TopKAccuracy", "LossTracker", "ConfusionMatrix", "Precision",
           "Recall", "F1Score", "MetricCollection", "ConfusionState", "UndefinedMetricWarning",
           "precision_recall_f1"]
