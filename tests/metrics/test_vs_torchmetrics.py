"""Agreement with torchmetrics (skipped when torch/torchmetrics are not installed).
Scores are tie-free: torch.topk's order among equal scores is unspecified."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from odyssey_training.metrics import (Accuracy, ConfusionMatrix, F1Score, Precision, Recall,
                                      TopKAccuracy)

from .strategies import SETTINGS

torch = pytest.importorskip("torch")
tm = pytest.importorskip("torchmetrics.classification")


@SETTINGS
@given(C=st.sampled_from([2, 5, 12, 40]), n=st.integers(1, 400), seed=st.integers(0, 2**16),
       average=st.sampled_from(["micro", "macro", "weighted", None]))
def test_multiclass_metrics_match_torchmetrics(C, n, seed, average):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, C)).astype(np.float32)
    t = rng.integers(0, C, size=n)
    xt, tt = torch.from_numpy(x), torch.from_numpy(t)
    ours = {"cm": ConfusionMatrix(C), "acc": Accuracy(C),
            "p": Precision(C, average=average, zero_division=0),
            "r": Recall(C, average=average, zero_division=0),
            "f1": F1Score(C, average=average, zero_division=0)}
    theirs = {"cm": tm.MulticlassConfusionMatrix(C), "acc": tm.MulticlassAccuracy(C,
                                                                                 average="micro"),
              "p": tm.MulticlassPrecision(C, average=average or "none"),
              "r": tm.MulticlassRecall(C, average=average or "none"),
              "f1": tm.MulticlassF1Score(C, average=average or "none")}
    absent = len(np.union1d(t, x.argmax(1))) < C
    for name in ours:
        ours[name].update(x, t)
        theirs[name].update(xt, tt)
        expected = theirs[name].compute().numpy()
        if average == "macro" and absent and name in ("p", "r", "f1"):
            continue  # torchmetrics' macro leaves out classes absent from targets and preds
        np.testing.assert_allclose(ours[name].compute(), expected, rtol=1e-5, atol=1e-6)
    k = min(3, C)
    top = TopKAccuracy(C, k=k)
    top.update(x, t)
    theirs_top = tm.MulticlassAccuracy(C, top_k=k, average="micro")
    assert top.compute() == pytest.approx(float(theirs_top(xt, tt)), abs=1e-6)


def test_binary_threshold_matches_torchmetrics():
    rng = np.random.default_rng(0)
    s = rng.random(1000).astype(np.float32)
    t = rng.integers(0, 2, size=1000)
    cm = ConfusionMatrix(2, threshold=0.3)
    cm.update(s, t)
    theirs = tm.BinaryConfusionMatrix(threshold=0.3)(torch.from_numpy(s), torch.from_numpy(t))
    np.testing.assert_array_equal(cm.compute(), theirs.numpy())
