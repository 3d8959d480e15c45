"""``fit`` reads its resume point after ``on_train_begin``: a state a callback
restores there (as BackupAndRestore does) is continued by that same fit."""

from __future__ import annotations

import numpy as np
import pytest

from odyssey_training.callbacks import Callback, History
from odyssey_training.data import ArrayLoader
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.loops.basic import run_order
from odyssey_training.optimizers import Adam

from .toy import TinyMLP, batches, blobs, softmax_xent

X, Y = blobs(96)
XV, YV = blobs(48, seed=2)
TRAIN, VAL = batches(X, Y, 16), batches(XV, YV, 16)


def make_loop(callbacks=()):
    model = TinyMLP()
    return BasicTrainingLoop(model, Adam(model.parameters(), lr=0.01), loss=softmax_xent,
                             callbacks=list(callbacks), grad_accum_steps=2)


def snapshot(loop):
    return (loop.state_dict(), [p.data.copy() for p in loop.model.parameters()],
            loop.optimizer.state_dict())


class CrashMidEpoch(Callback):
    """Snapshot after batch ``batch`` of epoch ``epoch``, then crash."""

    def __init__(self, epoch, batch):
        self.at, self.saved = (epoch, batch), None

    def on_train_batch_end(self, batch, logs=None):
        if (self.loop.epoch, batch) == self.at:
            self.saved = snapshot(self.loop)
            raise RuntimeError("crash")


class RestoreOnTrainBegin(Callback):
    def __init__(self, saved):
        self.saved, self.epochs_seen = saved, []

    def on_train_begin(self, logs=None):
        state, weights, opt_state = self.saved
        for p, w in zip(self.model.parameters(), weights):
            np.copyto(p.data, w)
        self.loop.optimizer.load_state_dict(opt_state)
        self.loop.load_state_dict(state)

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs_seen.append(epoch)


@pytest.mark.parametrize("epoch, batch", [(2, 2), (1, 5), (0, 0)])
def test_a_state_restored_in_on_train_begin_is_continued(epoch, batch):
    whole = make_loop()
    whole.fit(TRAIN, VAL, epochs=5)
    crash = CrashMidEpoch(epoch, batch)
    with pytest.raises(RuntimeError, match="crash"):
        make_loop([crash]).fit(TRAIN, VAL, epochs=5)
    restorer = RestoreOnTrainBegin(crash.saved)
    resumed = make_loop([restorer])
    resumed.fit(TRAIN, VAL, epochs=5)
    assert restorer.epochs_seen == list(range(epoch, 5))
    assert resumed.history.history == whole.history.history
    assert resumed.global_step == whole.global_step
    for a, b in zip(resumed.model.parameters(), whole.model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_a_fresh_fit_still_starts_fresh_and_seeds_first():
    class Draw(Callback):
        def on_train_begin(self, logs=None):
            self.value = np.random.random()

    draws = []
    for _ in range(2):
        model = TinyMLP()
        cb = Draw()
        loop = BasicTrainingLoop(model, Adam(model.parameters()), loss=softmax_xent,
                                 callbacks=[cb], seed=3)
        loop.fit(TRAIN, epochs=1)
        loop.fit(TRAIN, epochs=2)       # a second fit is fresh: epochs 0 and 1 again
        assert loop.history.epoch == [0, 1]
        draws.append(cb.value)
    assert draws[0] == draws[1]         # seeded before on_train_begin, as before


@pytest.mark.parametrize("batch", [5, 3])
def test_a_stateful_loader_restored_after_an_epochs_last_batch(batch):
    # the loader's state then points at the next epoch: the loop must not draw from it
    def loader():
        return ArrayLoader(X, Y, batch_size=16, seed=3)

    whole = make_loop()
    whole.fit(loader(), VAL, epochs=4)
    crash = CrashMidEpoch(1, batch)
    with pytest.raises(RuntimeError, match="crash"):
        make_loop([crash]).fit(loader(), VAL, epochs=4)
    resumed = make_loop([RestoreOnTrainBegin(crash.saved)])
    resumed.fit(loader(), VAL, epochs=4)
    assert resumed.history.history == whole.history.history
    for a, b in zip(resumed.model.parameters(), whole.model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_callbacks_that_write_checkpoints_run_after_history():
    calls = []

    class Named(Callback):
        def __init__(self, name, writes=False):
            self.name, self.writes_checkpoints = name, writes

        def on_epoch_end(self, epoch, logs=None):
            calls.append((self.name, list(self.loop.history.epoch)))

    begins = []

    class Begins(Named):
        def on_train_begin(self, logs=None):
            begins.append(self.name)

    loop = make_loop([Named("a"), Begins("saver", writes=True), Begins("b")])
    loop.fit(TRAIN, epochs=1)
    assert calls == [("a", []), ("b", []), ("saver", [0])]
    assert begins == ["saver", "b"]         # a restore in on_train_begin comes first
    order = run_order(loop.callbacks, History(), loop)
    assert [getattr(cb, "name", "history") for cb in order] == ["a", "b", "history", "saver"]
