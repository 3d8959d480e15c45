"""EarlyStopping, ReduceLROnPlateau and TerminateOnNaN through a real
BasicTrainingLoop (tests/loops/toy.py), checked against Keras 3's rules applied
to the values the run logged, and resumed through the loop's state."""

from __future__ import annotations

import numpy as np
import pytest

from odyssey_training.callbacks import (Callback, EarlyStopping, ReduceLROnPlateau,
                                        TerminateOnNaN)
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.optimizers import SGD

from ..loops.toy import TinyMLP, batches, blobs, softmax_xent
from .keras_reference import keras_early_stopping, keras_reduce_lr

X, Y = blobs(96)
XV, YV = blobs(48, seed=2)
TRAIN, VAL = batches(X, Y, 16), batches(XV, YV, 16)


class Snapshots(Callback):
    """The parameters at the end of every epoch."""

    def __init__(self):
        self.by_epoch = {}

    def on_epoch_end(self, epoch, logs=None):
        self.by_epoch[epoch] = [p.data.copy() for p in self.model.parameters()]


def make_loop(*callbacks, lr=0.2, loss=softmax_xent):
    model = TinyMLP()
    return BasicTrainingLoop(model, SGD(model.parameters(), lr=lr), loss=loss,
                             callbacks=list(callbacks))


def assert_same(a, b):
    """Nested dicts/lists of numbers and arrays, equal exactly."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        np.testing.assert_array_equal(a, b)


def params(loop):
    return [p.data.copy() for p in loop.model.parameters()]


def test_early_stopping_stops_and_restores_as_keras():
    es, snaps = EarlyStopping(min_delta=0.02, patience=1, restore_best_weights=True), Snapshots()
    loop = make_loop(snaps, es)
    history = loop.fit(TRAIN, VAL, epochs=30)
    ref = keras_early_stopping(history.history["val_loss"], mode="min", min_delta=0.02,
                               patience=1, restore_best_weights=True)
    assert ref["stopped_epoch"] > 0            # the scenario really stops early
    assert len(history.epoch) == ref["epochs_run"] == es.stopped_epoch + 1
    assert (es.stopped_epoch, es.best_epoch) == (ref["stopped_epoch"], ref["best_epoch"])
    for got, want in zip(params(loop), snaps.by_epoch[ref["restored_epoch"]]):
        np.testing.assert_array_equal(got, want)


def test_reduce_lr_on_plateau_writes_the_optimizer_lr_as_keras():
    rl = ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.02, min_lr=0.01)
    loop = make_loop(rl, lr=0.4)
    history = loop.fit(TRAIN, VAL, epochs=14, validate_every=2).history
    val = [None] * 14
    for epoch, value in zip(range(1, 14, 2), history["val_loss"]):
        val[epoch] = value
    logged, after, _ = keras_reduce_lr(val, [0.4], mode="min", factor=0.5, patience=1,
                                       min_delta=0.02, min_lr=0.01)
    assert history["learning_rate"] == logged == history["lr"]
    assert after[-1] != [0.4]                  # it did reduce
    assert loop.optimizer.param_groups[0]["lr"] == after[-1][0]


def test_terminate_on_nan_ends_the_run_after_the_batch():
    calls = []

    def nan_at_third(outputs, targets):
        calls.append(1)
        value, grad = softmax_xent(outputs, targets)
        return (float("nan") if len(calls) == 3 else value), grad

    loop = make_loop(TerminateOnNaN(), loss=nan_at_third)
    history = loop.fit(TRAIN, epochs=5)
    assert history.epoch == [0] and loop.global_step == 3 and len(calls) == 3
    assert np.isnan(history.history["loss"][0])


class Interrupt(Callback):
    """Saves the loop's state (and model/optimizer) at the end of epoch ``at - 1``
    and raises at the start of epoch ``at``."""

    def __init__(self, at):
        self.at, self.saved = at, None

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at - 1:
            self.saved = (self.loop.state_dict(), params(self.loop),
                          self.loop.optimizer.state_dict())

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt


def callbacks():
    return [EarlyStopping(min_delta=0.02, patience=2, restore_best_weights=True),
            ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.03)]


@pytest.mark.parametrize("at", [3, 7])
def test_monitor_state_survives_a_resume(at):
    whole = make_loop(*callbacks())
    whole.fit(TRAIN, VAL, epochs=30)
    interrupt = Interrupt(at)
    first = make_loop(*callbacks(), interrupt)
    with pytest.raises(KeyboardInterrupt):
        first.fit(TRAIN, VAL, epochs=30)
    state, weights, opt_state = interrupt.saved
    resumed = make_loop(*callbacks())
    for p, w in zip(resumed.model.parameters(), weights):
        np.copyto(p.data, w)
    resumed.optimizer.load_state_dict(opt_state)
    resumed.load_state_dict(state)
    resumed.fit(TRAIN, VAL, epochs=30)
    assert resumed.history.history == whole.history.history
    assert whole.callbacks.callbacks[0].stopped_epoch > at    # stopped after the resume
    for a, b in zip(resumed.callbacks, whole.callbacks):
        assert_same(a.state_dict(), b.state_dict())
    for got, want in zip(params(resumed), params(whole)):
        np.testing.assert_array_equal(got, want)
