"""Bad input gets a clear error (and changes nothing) or a documented result."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from odyssey_training.metrics import (Accuracy, ConfusionMatrix, F1Score, LossTracker,
                                      MetricCollection, Precision, Recall, TopKAccuracy,
                                      UndefinedMetricWarning)

LOGITS = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0]], dtype=np.float32)
TARGETS = np.array([0, 1, 1])


def fresh():
    return [ConfusionMatrix(3), Accuracy(3), TopKAccuracy(3, k=2), Precision(3), Recall(3),
            F1Score(3)]


@pytest.mark.parametrize("preds, targets, error, match", [
    (LOGITS[:2], TARGETS, ValueError, "preds has 2 rows but targets has 3"),
    (LOGITS[:, :2], TARGETS, ValueError, "2 columns but num_classes is 3"),
    (LOGITS, TARGETS[:, None], ValueError, "targets must be 1-D"),
    (LOGITS[None], TARGETS, ValueError, "preds must be"),
    (LOGITS, TARGETS.astype(np.float32), TypeError, "integer class labels"),
    (LOGITS.astype(np.int64), TARGETS, TypeError, "float scores"),
    (LOGITS.astype(np.complex64), TARGETS, TypeError, "float scores"),
    (np.array([0.3, 0.9, 0.1]), TARGETS, ValueError, "binary scores and need num_classes=2"),
    (LOGITS, np.array([0, 3, 1]), ValueError, r"targets has 1 label\(s\) outside \[0, 3\)"),
    (LOGITS, np.array([0, -1, 1]), ValueError, r"values: -1"),
    (np.array([0, 1, 4]), TARGETS, ValueError, r"preds has 1 label\(s\) outside"),
])
def test_bad_batches_raise_and_count_nothing(preds, targets, error, match):
    for m in fresh():
        if isinstance(m, TopKAccuracy) and preds.ndim == 1 and preds.dtype.kind in "iu":
            continue  # TopK rejects labels first (tested below)
        m.update(LOGITS, TARGETS)
        before = m.state_dict()["state"]
        with pytest.raises(error, match=match):
            m.update(preds, targets)
        after = m.state_dict()["state"]
        for key in before:
            np.testing.assert_array_equal(after[key], before[key])


def test_nan_policy():
    nan = LOGITS.copy()
    nan[1, 0] = np.nan
    for m in fresh():
        with pytest.raises(ValueError, match="NaN scores in 1 row"):
            m.update(nan, TARGETS)
    cm = ConfusionMatrix(3, nan_policy="max")
    cm.update(nan, TARGETS)                      # NaN is the largest score: row 1 -> class 0
    np.testing.assert_array_equal(cm.compute(), [[1, 0, 0], [1, 0, 1], [0, 0, 0]])
    acc = Accuracy(3, nan_policy="max")
    acc.update(nan, TARGETS)
    assert acc.compute() == pytest.approx(1 / 3)
    binary = Accuracy(2, nan_policy="max")       # a NaN binary score predicts 1
    binary.update(np.array([np.nan, 0.2]), np.array([1, 0]))
    assert binary.compute() == 1.0
    with pytest.raises(ValueError, match="NaN"):
        Accuracy(2).update(np.array([np.nan, 0.2]), np.array([1, 0]))


def test_empty_batches_and_empty_metrics():
    for m in fresh():
        m.update(np.zeros((0, 3), np.float32), np.zeros(0, np.int64))
    cm, acc, top, p, r, f = fresh()
    assert acc.compute() == 0.0 and top.compute() == 0.0
    np.testing.assert_array_equal(cm.compute(), np.zeros((3, 3)))
    assert ConfusionMatrix(3, normalize="true").compute().sum() == 0.0
    with pytest.warns(UndefinedMetricWarning):
        assert p.compute() == 0.0
    assert Precision(3, zero_division=1).compute() == 1.0
    assert math.isnan(F1Score(3, zero_division=np.nan).compute())
    assert math.isnan(LossTracker().compute())
    with pytest.raises(ValueError, match="rows"):
        Accuracy(3).update(np.zeros((0, 3)), np.zeros(1, np.int64))


def test_topk_needs_scores():
    with pytest.raises(ValueError, match="needs \\(N, 3\\) scores"):
        TopKAccuracy(3, k=2).update(np.array([0, 1, 2]), TARGETS)


def test_input_conversions():
    """Lists, small ints, bools, float16, non-contiguous views all work."""
    acc = Accuracy(3)
    acc.update(LOGITS.tolist(), TARGETS.tolist())
    acc.update(LOGITS.astype(np.float16), TARGETS.astype(np.uint8))
    acc.update(np.asfortranarray(LOGITS), TARGETS.astype(np.int16))
    acc.update(np.concatenate([LOGITS, LOGITS], axis=1)[:, ::2][:, :3], TARGETS)
    binary = ConfusionMatrix(2)
    binary.update(np.array([True, False]), np.array([True, True]))
    assert acc.total == 12
    np.testing.assert_array_equal(binary.compute(), [[0, 0], [1, 1]])


@pytest.mark.parametrize("make, match", [
    (lambda: Accuracy(0), "num_classes must be in"),
    (lambda: Accuracy(2.0), "num_classes must be an int"),
    (lambda: Accuracy(True), "num_classes must be an int"),
    (lambda: Accuracy(3, threshold=float("nan")), "threshold must not be NaN"),
    (lambda: Accuracy(3, nan_policy="ignore"), "nan_policy must be one of"),
    (lambda: TopKAccuracy(3, k=0), "k must be an int >= 1"),
    (lambda: Precision(3, average="samples"), "average must be one of"),
    (lambda: Precision(3, average="binary"), "needs num_classes=2"),
    (lambda: Recall(3, zero_division=0.5), "zero_division must be"),
    (lambda: ConfusionMatrix(3, normalize="rows"), "normalize must be one of"),
    (lambda: LossTracker(ema_decay=1.0), "ema_decay must be in"),
])
def test_bad_constructor_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_merge_and_load_checks():
    with pytest.raises(TypeError, match="cannot merge Recall into Precision"):
        Precision(3).merge(Recall(3))
    with pytest.raises(ValueError, match="different configs"):
        Precision(3).merge(Precision(4))
    with pytest.raises(ValueError, match="different configs"):
        F1Score(3, average="micro").merge(F1Score(3))
    sd = Precision(3).state_dict()
    with pytest.raises(ValueError, match="not 'Recall'"):
        Recall(3).load_state_dict(sd)
    with pytest.raises(ValueError, match="does not match"):
        Precision(3, zero_division=0).load_state_dict(sd)
    bad = {**sd, "state": {"counts": np.zeros((2, 2), np.int64)}}
    with pytest.raises(ValueError, match="shape \\(3, 3\\)"):
        Precision(3).load_state_dict(bad)
    bad = {**sd, "state": {"counts": -np.ones((3, 3), np.int64)}}
    with pytest.raises(ValueError, match=">= 0"):
        Precision(3).load_state_dict(bad)
    acc = Accuracy(3).state_dict()
    with pytest.raises(ValueError, match="correct <= total"):
        Accuracy(3).load_state_dict({**acc, "state": {"correct": 4, "total": 2}})
    with pytest.raises(ValueError, match="named 'accuracy'"):
        MetricCollection([Accuracy(3), Accuracy(3)])


def test_zero_division_warn_behaves_as_zero():
    p = Precision(3, average=None)               # class 2 is never predicted
    p.update(np.array([0, 1, 1]), np.array([0, 1, 2]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = p.compute()
    np.testing.assert_array_equal(values, [1.0, 0.5, 0.0])
    assert [w.category for w in caught] == [UndefinedMetricWarning]
