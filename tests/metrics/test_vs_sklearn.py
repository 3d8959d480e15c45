"""Every classification metric equals sklearn.metrics (labels=range(C)) on random
data, fed in arbitrary batches; merging the metrics of two halves equals the whole."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st
from sklearn.metrics import accuracy_score, confusion_matrix, top_k_accuracy_score

from odyssey_training.metrics import (Accuracy, ConfusionMatrix, F1Score, MetricCollection,
                                      Precision, Recall, TopKAccuracy)

from .strategies import SETTINGS, dataset, predicted, sk_prf, splits

ALL_KINDS = ("scores", "labels", "binary")
AVERAGES = ("micro", "macro", "weighted", None)


def feed(metric, preds, targets, parts):
    for a, b in parts:
        metric.update(preds[a:b], targets[a:b])
    return metric


@SETTINGS
@given(data=st.data(), case=dataset(kinds=ALL_KINDS),
       normalize=st.sampled_from([None, "true", "pred", "all"]))
def test_confusion_matrix(data, case, normalize):
    kind, preds, targets, C = case
    cm = feed(ConfusionMatrix(C, normalize=normalize), preds, targets,
              data.draw(splits(len(targets))))
    y = predicted(kind, preds)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # sklearn notes single-label input
        expected = (confusion_matrix(targets, y, labels=list(range(C)), normalize=normalize)
                    if len(targets) else np.zeros((C, C)))
    got = cm.compute()
    assert got.shape == (C, C)
    assert got.dtype == (np.int64 if normalize is None else np.float64)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


@SETTINGS
@given(data=st.data(), case=dataset(kinds=ALL_KINDS),
       average=st.sampled_from(AVERAGES + ("binary",)),
       zero_division=st.sampled_from(["warn", 0, 1, np.nan]))
def test_precision_recall_f1(data, case, average, zero_division):
    kind, preds, targets, C = case
    if average == "binary" and C != 2:
        average = "macro"
    if len(targets) == 0:
        targets, preds = targets[:0], preds[:0]
    parts = data.draw(splits(len(targets)))
    metrics = [feed(cls(C, average=average, zero_division=zero_division), preds, targets, parts)
               for cls in (Precision, Recall, F1Score)]
    if len(targets) == 0:
        return  # sklearn rejects empty input; see test_bad_input for ours
    expected = sk_prf(targets, predicted(kind, preds), C, average, zero_division)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = [m.compute() for m in metrics]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-15, equal_nan=True)


@SETTINGS
@given(data=st.data(), case=dataset(kinds=ALL_KINDS))
def test_accuracy(data, case):
    kind, preds, targets, C = case
    acc = feed(Accuracy(C), preds, targets, data.draw(splits(len(targets))))
    expected = accuracy_score(targets, predicted(kind, preds)) if len(targets) else 0.0
    assert acc.compute() == pytest.approx(expected, rel=1e-15)
    assert acc.total == len(targets)


@SETTINGS
@given(data=st.data(), case=dataset(kinds=("scores",), classes=(3, 4, 7, 10, 33, 70)),
       k=st.integers(1, 8))
def test_top_k_accuracy(data, case, k):
    _, preds, targets, C = case
    top = feed(TopKAccuracy(C, k=k), preds, targets, data.draw(splits(len(targets))))
    if len(targets) == 0:
        assert top.compute() == 0.0
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k >= C warns in sklearn
        expected = top_k_accuracy_score(targets, preds, k=k, labels=list(range(C)))
    assert top.compute() == pytest.approx(expected, rel=1e-15)


@SETTINGS
@given(data=st.data(), case=dataset(kinds=ALL_KINDS),
       average=st.sampled_from(AVERAGES))
def test_merge_of_halves_equals_whole(data, case, average):
    kind, preds, targets, C = case
    cut = data.draw(st.integers(0, len(targets)))

    def members():
        return {"cm": ConfusionMatrix(C), "acc": Accuracy(C),
                "f1": F1Score(C, average=average, zero_division=0),
                "rec": Recall(C, average=average, zero_division=1)}

    whole, first, second = (MetricCollection(members()) for _ in range(3))
    whole.update(preds, targets)
    first.update(preds[:cut], targets[:cut])
    second.update(preds[cut:], targets[cut:])
    merged = first.merge(second).compute()
    for name, value in whole.compute().items():
        np.testing.assert_array_equal(merged[name], value)
    # per-metric merge, outside any collection, too
    single = {name: m for name, m in members().items()}
    for name, m in single.items():
        other = members()[name]
        m.update(preds[:cut], targets[:cut])
        other.update(preds[cut:], targets[cut:])
        np.testing.assert_array_equal(m.merge(other).compute(), whole.compute()[name])


@SETTINGS
@given(data=st.data(), case=dataset(kinds=ALL_KINDS))
def test_collection_equals_separate_metrics(data, case):
    kind, preds, targets, C = case
    parts = data.draw(splits(len(targets)))

    def members():
        return [Accuracy(C), ConfusionMatrix(C, normalize="true"), Precision(C, zero_division=0),
                Recall(C, average="weighted", zero_division=0), F1Score(C, average=None,
                                                                       zero_division=0)]

    mc = MetricCollection(members())
    for a, b in parts:
        mc.update(preds[a:b], targets[a:b])
    for (name, value), alone in zip(mc.compute().items(), members()):
        np.testing.assert_array_equal(value, feed(alone, preds, targets, parts).compute())
