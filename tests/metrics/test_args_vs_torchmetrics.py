"""Metric constructors against torchmetrics' multiclass classes (and sklearn's
conventions where the two disagree): one table of calls.

``SAME`` rows must be accepted by both or rejected by both; ``DIFFERENT`` rows are
the deliberate differences listed in docs/metrics.md ("Constructors"), checked in
both directions so the table fails when either side changes.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

tmc = pytest.importorskip("torchmetrics.classification")

from odyssey_training.metrics import (Accuracy, ConfusionMatrix, F1Score, Precision,  # noqa: E402
                                      Recall, TopKAccuracy)

pytestmark = pytest.mark.nokernel
TM_ACC, TM_P, TM_R = tmc.MulticlassAccuracy, tmc.MulticlassPrecision, tmc.MulticlassRecall
TM_F1, TM_CM = tmc.MulticlassF1Score, tmc.MulticlassConfusionMatrix

SAME = {
    "accuracy": (lambda: TM_ACC(5, average="micro"), lambda: Accuracy(5)),
    "accuracy num_classes=0": (lambda: TM_ACC(0), lambda: Accuracy(0)),
    "accuracy num_classes=5.0": (lambda: TM_ACC(5.0), lambda: Accuracy(5.0)),
    "top_k": (lambda: TM_ACC(5, top_k=2), lambda: TopKAccuracy(5, top_k=2)),
    "top_k numpy int": (lambda: TM_ACC(5, top_k=np.int64(2)),
                        lambda: TopKAccuracy(5, top_k=np.int64(2))),
    "average none": (lambda: TM_P(5, average="none"), lambda: Precision(5, average="none")),
    "average None": (lambda: TM_P(5, average=None), lambda: Precision(5, average=None)),
    "average weighted": (lambda: TM_R(5, average="weighted"),
                         lambda: Recall(5, average="weighted")),
    "average micro": (lambda: TM_F1(5, average="micro"), lambda: F1Score(5, average="micro")),
    "average samples": (lambda: TM_P(5, average="samples"),
                        lambda: Precision(5, average="samples")),
    "zero_division 0": (lambda: TM_P(5, zero_division=0), lambda: Precision(5, zero_division=0)),
    "zero_division 1": (lambda: TM_F1(5, zero_division=1), lambda: F1Score(5, zero_division=1)),
    "zero_division 0.5": (lambda: TM_P(5, zero_division=0.5),
                          lambda: Precision(5, zero_division=0.5)),
    "normalize none": (lambda: TM_CM(5, normalize="none"),
                       lambda: ConfusionMatrix(5, normalize="none")),
    "normalize true": (lambda: TM_CM(5, normalize="true"),
                       lambda: ConfusionMatrix(5, normalize="true")),
    "normalize row": (lambda: TM_CM(5, normalize="row"),
                      lambda: ConfusionMatrix(5, normalize="row")),
}

#: (torchmetrics call, our call, who accepts, why) -- documented in docs/metrics.md
DIFFERENT = {
    "num_classes=1": (lambda: TM_ACC(1), lambda: Accuracy(1), "ours",
                      "one class is a valid (if dull) problem, as in sklearn"),
    "num_classes numpy int": (lambda: TM_CM(np.int64(5)), lambda: ConfusionMatrix(np.int64(5)),
                              "ours", "NumPy integers are integers"),
    "Accuracy() without num_classes": (lambda: TM_ACC(None), lambda: Accuracy(), "ours",
                                       "the class count comes from the first scores"),
    "top_k > num_classes": (lambda: TM_ACC(5, top_k=6), lambda: TopKAccuracy(5, top_k=6),
                            "ours", "every row is a hit, as sklearn's top_k_accuracy_score"),
    "top_k=0": (lambda: TM_ACC(5, top_k=0), lambda: TopKAccuracy(5, top_k=0), "torchmetrics",
                "checked at construction here"),
    "top_k=2.0": (lambda: TM_ACC(5, top_k=2.0), lambda: TopKAccuracy(5, top_k=2.0),
                  "torchmetrics", "k is an integer"),
    "average binary": (lambda: TM_P(2, average="binary"), lambda: Precision(2, average="binary"),
                       "ours", "sklearn's average='binary'"),
    "zero_division warn": (lambda: TM_P(5, zero_division="warn"),
                           lambda: Precision(5, zero_division="warn"), "ours",
                           "sklearn's zero_division (the default here)"),
    "zero_division nan": (lambda: TM_R(5, zero_division=float("nan")),
                          lambda: Recall(5, zero_division=float("nan")), "ours",
                          "sklearn's zero_division"),
    "ignore_index": (lambda: TM_ACC(5, ignore_index=0), lambda: Accuracy(5, ignore_index=0),
                     "torchmetrics", "not supported: filter the batch"),
    "precision top_k": (lambda: TM_P(5, top_k=2), lambda: Precision(5, top_k=2),
                        "torchmetrics", "top-k is TopKAccuracy only"),
    "validate_args": (lambda: TM_ACC(5, validate_args=False),
                      lambda: Accuracy(5, validate_args=False), "torchmetrics",
                      "inputs are always checked (in the kernels: cheap)"),
}


def accepts(build) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build()
    except (ValueError, TypeError):
        return False
    return True


@pytest.mark.parametrize("name", sorted(SAME))
def test_same_arguments_as_torchmetrics(name):
    theirs, ours = SAME[name]
    assert accepts(ours) == accepts(theirs)


@pytest.mark.parametrize("name", sorted(DIFFERENT))
def test_documented_differences(name):
    theirs, ours, accepted_by, _why = DIFFERENT[name]
    assert accepts(theirs) == (accepted_by == "torchmetrics")
    assert accepts(ours) == (accepted_by == "ours")


def test_defaults_that_differ_on_purpose():
    """Accuracy is sklearn's accuracy_score (micro), torchmetrics' multiclass default is
    macro; zero_division defaults to sklearn's "warn" (torchmetrics: 0)."""
    assert TM_ACC(5).average == "macro" and TM_P(5).zero_division == 0
    assert Precision(5).average == TM_P(5).average == "macro"
    assert Precision(5).zero_division == "warn"
