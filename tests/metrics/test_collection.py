"""MetricCollection: one confusion pass for many metrics, all-or-nothing updates."""

from __future__ import annotations

import numpy as np
import pytest

from odyssey_training.metrics import (Accuracy, ConfusionMatrix, F1Score, LossTracker,
                                      MetricCollection, Precision, Recall, TopKAccuracy,
                                      _native)


def batch(n=500, C=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, C)).astype(np.float32), rng.integers(0, C, size=n)


def test_confusion_metrics_share_one_pass(monkeypatch):
    calls = []
    real = _native.count
    monkeypatch.setattr(_native, "count", lambda kind, sink, *a, **kw: (
        calls.append(sink), real(kind, sink, *a, **kw))[1])
    mc = MetricCollection({"acc": Accuracy(5), "p": Precision(5), "r": Recall(5),
                           "f1": F1Score(5), "cm": ConfusionMatrix(5, normalize="all"),
                           "top2": TopKAccuracy(5, k=2), "acc_other": Accuracy(5,
                                                                                nan_policy="max"),
                           "loss": LossTracker()})
    x, t = batch()
    mc.update(x, t, loss=0.25)
    assert sorted(calls) == ["confusion", "hits", "topk"]
    values = mc.compute()
    assert values["acc"] == values["acc_other"] == pytest.approx((x.argmax(1) == t).mean())
    assert values["loss"] == 0.25
    mc.reset()
    assert mc["cm"].compute().sum() == 0 and mc["acc"].total == 0


def test_failed_update_rolls_back_every_member():
    mc = MetricCollection({"acc": Accuracy(5), "f1": F1Score(5), "cm": ConfusionMatrix(5),
                           "top": TopKAccuracy(5, k=2), "loss": LossTracker()})
    x, t = batch()
    mc.update(x, t, loss=1.0)
    before = mc.state_dict()
    with pytest.raises(ValueError, match="TopKAccuracy needs"):
        mc.update(x.argmax(1), t, loss=2.0)           # labels: the confusion pass succeeds first
    with pytest.raises(ValueError, match="a loss is a number"):
        mc.update(x, t, loss=np.ones((2, 2)))          # fails last, after every other member
    after = mc.state_dict()
    for name in before:
        for key, value in before[name]["state"].items():
            np.testing.assert_array_equal(after[name]["state"][key], value)


def test_state_dict_round_trip_and_merge():
    x, t = batch(seed=1)

    def make():
        return MetricCollection([Accuracy(5), Precision(5, average="micro"), ConfusionMatrix(5)])

    a, b = make(), make()
    a.update(x, t)
    b.load_state_dict(a.state_dict())
    assert {k: np.asarray(v).tolist() for k, v in b.compute().items()} == \
        {k: np.asarray(v).tolist() for k, v in a.compute().items()}
    a.merge(b)
    np.testing.assert_array_equal(a["confusion_matrix"].compute(),
                                  2 * b["confusion_matrix"].compute())
    assert a["accuracy"].total == 2 * len(t)
    with pytest.raises(ValueError, match="same member names"):
        a.merge(MetricCollection([Accuracy(5)]))


def test_sharing_refuses_members_with_different_counts():
    x, t = batch()
    p = Precision(5)
    p.update(x, t)
    with pytest.raises(ValueError, match="different counts"):
        MetricCollection([p, Recall(5)])
