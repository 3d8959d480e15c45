"""``Accuracy()`` and ``TopKAccuracy(k=...)`` without ``num_classes`` (the original
library's spelling): the class count is the width of the first ``(N, C)`` scores;
labels-only input is then a clear error; merge, state_dict, config and
MetricCollection work before and after the count is known.  torchmetrics' spellings
(``top_k=``, ``average="none"``, ``normalize="none"``) are accepted."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, top_k_accuracy_score

from odyssey_training.metrics import (Accuracy, ConfusionMatrix, F1Score, LossTracker,
                                      MetricCollection, Precision, Recall, TopKAccuracy,
                                      _native)

C = 7


def batch(n=300, seed=0, classes=C):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, classes)).astype(np.float32), rng.integers(0, classes, n)


def test_accuracy_takes_the_class_count_from_the_logits():
    x, t = batch()
    acc = Accuracy()
    assert acc.num_classes is None and acc.compute() == 0.0
    acc.update(x[:100], t[:100])
    acc.update(x[100:], t[100:])
    assert acc.num_classes == C
    assert acc.compute() == pytest.approx(accuracy_score(t, x.argmax(1)))
    acc.update(x[:5].argmax(1), t[:5])        # labels are fine once C is known
    assert acc.total == 305
    acc.reset()
    assert acc.num_classes == C and acc.total == 0


@pytest.mark.parametrize("make", [lambda: TopKAccuracy(k=3), lambda: TopKAccuracy(top_k=3),
                                  lambda: TopKAccuracy(None, top_k=np.int64(3))])
def test_top_k_accuracy_without_num_classes_and_with_torchmetrics_spelling(make):
    x, t = batch(seed=1)
    top = make()
    top.update(x, t)
    assert top.k == 3 and top.num_classes == C and top.config()["k"] == 3
    expected = top_k_accuracy_score(t, x.astype(np.float64), k=3, labels=list(range(C)))
    assert top.compute() == pytest.approx(expected)


def test_k_and_top_k_together_is_an_error():
    with pytest.raises(TypeError, match="both k=.* and top_k="):
        TopKAccuracy(k=3, top_k=3)
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        TopKAccuracy(top_k=0)


@pytest.mark.parametrize("metric", [Accuracy(), TopKAccuracy(k=2)], ids=["acc", "topk"])
@pytest.mark.parametrize("preds", [np.array([0, 1, 2]), np.array([0.2, 0.9, 0.4]),
                                   np.zeros((3, 2, 2)), np.zeros((3, 0))],
                         ids=["labels", "binary-scores", "3-d", "no-columns"])
def test_first_batch_without_scores_is_a_clear_error(metric, preds):
    with pytest.raises(ValueError, match="num_classes|columns"):
        metric.update(preds, np.array([0, 1, 1]))
    assert metric.num_classes is None and metric.total == 0


def test_a_rejected_first_batch_leaves_the_count_open():
    x, t = batch()
    acc = Accuracy()
    with pytest.raises(ValueError, match="outside"):
        acc.update(x[:10], np.full(10, C + 3))
    assert acc.num_classes is None and acc.total == 0
    x4, t4 = batch(classes=4)
    acc.update(x4, t4)                        # a different width is still welcome
    assert acc.num_classes == 4
    with pytest.raises(ValueError, match="7 columns but num_classes is 4"):
        acc.update(x, t)


def test_merge_adopts_a_known_count_and_refuses_a_different_one():
    x, t = batch(seed=2)
    whole = Accuracy(C)
    whole.update(x, t)
    open_, known = Accuracy(), Accuracy()
    known.update(x[150:], t[150:])
    open_.merge(known)                                     # open <- known: adopts C
    assert open_.num_classes == C and open_.total == 150
    late = Accuracy()
    late.update(x[:150], t[:150])
    late.merge(Accuracy())                                 # known <- open (empty)
    late.merge(open_)
    assert (late.correct, late.total) == (whole.correct, whole.total)
    other = Accuracy(C + 1)
    with pytest.raises(ValueError, match="different configs"):
        late.merge(other)
    with pytest.raises(ValueError, match="different configs"):
        Accuracy(nan_policy="max").merge(late)


def test_state_dict_and_config_round_trip_before_and_after():
    x, t = batch(seed=3)
    acc = Accuracy()
    sd = json.loads(json.dumps(acc.state_dict()))          # open: num_classes is null
    assert sd["config"]["num_classes"] is None
    for target in (Accuracy(), Accuracy(C), Accuracy(**sd["config"])):
        target.load_state_dict(sd)
    acc.update(x, t)
    sd = json.loads(json.dumps(acc.state_dict()))
    fresh = Accuracy()
    fresh.load_state_dict(sd)                              # adopts C with the counts
    assert (fresh.num_classes, fresh.correct, fresh.total) == (C, acc.correct, acc.total)
    rebuilt = Accuracy(**acc.config())
    assert rebuilt.config() == acc.config() and rebuilt.num_classes == C
    with pytest.raises(ValueError, match="does not match"):
        Accuracy(C + 1).load_state_dict(sd)
    with pytest.raises(TypeError, match="num_classes must be an int"):
        Accuracy().load_state_dict({**sd, "config": {**sd["config"], "num_classes": "7"}})
    top = TopKAccuracy(top_k=2)
    top.load_state_dict(json.loads(json.dumps(TopKAccuracy(k=2).state_dict())))


def test_collection_with_an_open_accuracy(monkeypatch):
    x, t = batch(seed=4)
    mc = MetricCollection({"acc": Accuracy(), "f1": F1Score(C, average="macro",
                                                            zero_division=0),
                           "top": TopKAccuracy(top_k=2), "loss": LossTracker()})
    mc.update(x[:100], t[:100], loss=1.0)
    calls = []
    real = _native.count
    monkeypatch.setattr(_native, "count", lambda kind, sink, *a, **kw: (
        calls.append(sink), real(kind, sink, *a, **kw))[1])
    mc.update(x[100:], t[100:], loss=2.0)
    assert sorted(calls) == ["confusion", "topk"]         # acc now reads the confusion pass
    values = mc.compute()
    assert values["acc"] == pytest.approx(accuracy_score(t, x.argmax(1)))
    assert values["f1"] == pytest.approx(f1_score(t, x.argmax(1), average="macro",
                                                  labels=list(range(C)), zero_division=0))
    assert values["top"] == pytest.approx(top_k_accuracy_score(t, x, k=2,
                                                               labels=list(range(C))))


def test_collection_rolls_back_a_count_learned_in_a_failed_update():
    x, t = batch(seed=5)
    mc = MetricCollection({"acc": Accuracy(), "top": TopKAccuracy(k=2), "loss": LossTracker()})
    with pytest.raises(ValueError, match="a loss is a number"):
        mc.update(x, t, loss=np.ones((2, 2)))
    assert mc["acc"].num_classes is None and mc["top"].num_classes is None
    assert mc["acc"].total == 0
    merged = MetricCollection({"acc": Accuracy(), "top": TopKAccuracy(k=2),
                               "loss": LossTracker()})
    mc.update(x, t, loss=1.0)
    merged.merge(mc)
    assert merged["acc"].num_classes == C and merged["acc"].total == len(t)


@pytest.mark.parametrize("cls", [Precision, Recall, F1Score, ConfusionMatrix])
def test_confusion_metrics_still_need_num_classes(cls):
    """Their state is a (C, C) matrix shared inside a collection: C is required."""
    with pytest.raises(TypeError, match="num_classes"):
        cls()


def test_torchmetrics_none_spellings():
    x, t = batch(seed=6)
    per_class = Precision(C, average="none", zero_division=0)
    cm = ConfusionMatrix(C, normalize="none")
    for m in (per_class, cm):
        m.update(x, t)
    assert per_class.average is None and per_class.compute().shape == (C,)
    assert cm.normalize is None and cm.compute().dtype == np.int64
