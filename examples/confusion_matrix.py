"""Evaluate a (simulated) 10-class classifier batch by batch and render its
confusion matrix as a heat map: docs/confusion_matrix.png.

    python examples/confusion_matrix.py [OUTPUT.png]

The logits come from a toy model that confuses look-alike CIFAR-10 classes
(cat/dog, automobile/truck, deer/horse, airplane/ship); every metric is fed the
same batches through one MetricCollection, so each batch is reduced by a single
native argmax + confusion-count pass.  Needs matplotlib (the ``plot`` extra).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from odyssey_training.metrics import (Accuracy, ConfusionMatrix, F1Score, LossTracker,
                                      MetricCollection, Recall, TopKAccuracy)
from odyssey_training.metrics.plot import plot_confusion_matrix

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]
LOOK_ALIKE = {0: 8, 8: 0, 1: 9, 9: 1, 3: 5, 5: 3, 4: 7, 7: 4}


def batches(n_batches: int = 80, batch_size: int = 256, seed: int = 0):
    """(logits, labels) of a model that is right about two thirds of the time."""
    rng = np.random.default_rng(seed)
    for _ in range(n_batches):
        labels = rng.integers(0, len(CLASSES), size=batch_size)
        logits = rng.standard_normal((batch_size, len(CLASSES))).astype(np.float32)
        logits[np.arange(batch_size), labels] += 2.2
        partner = np.array([LOOK_ALIKE.get(int(c), int(c)) for c in labels])
        has_partner = partner != labels
        logits[np.flatnonzero(has_partner), partner[has_partner]] += 1.6
        yield logits, labels


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def main(out: Path) -> None:
    C = len(CLASSES)
    metrics = MetricCollection({"accuracy": Accuracy(C), "top2": TopKAccuracy(C, k=2),
                                "macro_f1": F1Score(C, average="macro"),
                                "recall": Recall(C, average=None),
                                "confusion": ConfusionMatrix(C),
                                "loss": LossTracker()})
    for logits, labels in batches():
        metrics.update(logits, labels, loss=cross_entropy(logits, labels))
    values = metrics.compute()
    print(f"accuracy {values['accuracy']:.3f}  top-2 {values['top2']:.3f}  "
          f"macro F1 {values['macro_f1']:.3f}  loss {values['loss']:.3f}")
    for name, recall in zip(CLASSES, values["recall"]):
        print(f"  recall {name:10s} {recall:.3f}")
    plot_confusion_matrix(metrics["confusion"], out, class_names=CLASSES, normalize="true",
                          title="simulated CIFAR-10 classifier (rows: true class, normalized)")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else
         Path(__file__).resolve().parent.parent / "docs" / "confusion_matrix.png")
