"""LossTracker against NumPy: mean, variance (Welford), min/max, EMA, weights, merge."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from odyssey_training.metrics import LossTracker

from .strategies import SETTINGS

values = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=60)


def ema_reference(xs, beta):
    e = xs[0]
    for x in xs[1:]:
        e = beta * e + (1 - beta) * x
    return e


@SETTINGS
@given(xs=values, beta=st.floats(0.0, 0.99), as_array=st.booleans())
def test_statistics_match_numpy(xs, beta, as_array):
    t = LossTracker(ema_decay=beta)
    if as_array:
        t.update(np.array(xs[:1]))
        t.update(np.array(xs[1:]))
    else:
        for x in xs:
            t.update(x)
    arr = np.array(xs)
    assert t.count == len(xs)
    assert t.compute() == pytest.approx(arr.mean(), rel=1e-12, abs=1e-9)
    assert t.var() == pytest.approx(arr.var(), rel=1e-9, abs=1e-6)
    if len(xs) > 1:
        assert t.var(ddof=1) == pytest.approx(arr.var(ddof=1), rel=1e-9, abs=1e-6)
    assert (t.min, t.max, t.last) == (arr.min(), arr.max(), xs[-1])
    assert t.ema == pytest.approx(ema_reference(xs, beta), rel=1e-9, abs=1e-9)


@SETTINGS
@given(xs=values, weights=st.lists(st.integers(1, 50), min_size=60, max_size=60))
def test_weighted_values_equal_repeated_values(xs, weights):
    t = LossTracker()
    for x, w in zip(xs, weights):
        t.update(x, weight=w)
    repeated = np.repeat(np.array(xs), weights[:len(xs)])
    assert t.count == repeated.size
    assert t.compute() == pytest.approx(repeated.mean(), rel=1e-12, abs=1e-9)
    assert t.var() == pytest.approx(repeated.var(), rel=1e-9, abs=1e-6)


@SETTINGS
@given(xs=values, cut=st.integers(0, 60))
def test_merge_equals_one_stream(xs, cut):
    a, b, whole = LossTracker(), LossTracker(), LossTracker()
    cut = min(cut, len(xs))
    for x in xs[:cut]:
        a.update(x)
    for x in xs[cut:]:
        b.update(x)
    for x in xs:
        whole.update(x)
    a.merge(b)
    assert a.count == whole.count
    assert a.compute() == pytest.approx(whole.compute(), rel=1e-12, abs=1e-9)
    assert a.var() == pytest.approx(whole.var(), rel=1e-9, abs=1e-6)
    assert (a.min, a.max) == (whole.min, whole.max)
    expected_last = xs[cut - 1] if cut else xs[-1]   # merge keeps this stream's last value
    assert a.last == expected_last


def test_nan_propagates_and_state_round_trips():
    t = LossTracker()
    t.update(1.0)
    t.update(float("nan"))
    assert math.isnan(t.compute()) and math.isnan(t.max) and math.isnan(t.var())
    t = LossTracker(ema_decay=0.5)
    t.update(np.array([1.0, 2.0, 4.0]))
    sd = t.state_dict()
    u = LossTracker(ema_decay=0.5)
    u.load_state_dict(sd)
    assert u.summary() == t.summary()
    with pytest.raises(ValueError, match="weight applies"):
        t.update(np.array([1.0, 2.0]), weight=3)
    with pytest.raises(ValueError, match="number or a 1-D"):
        t.update(np.ones((2, 2)))
    with pytest.raises(ValueError, match="count must be"):
        u.load_state_dict({**sd, "state": {**sd["state"], "count": -1}})
