"""Timer: Lightning's duration forms, the stop per step or per epoch, the elapsed
time across a resume; the clock is injected (no sleeping)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from odyssey_training.callbacks import Timer
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.optimizers import SGD

from ..loops.toy import TinyMLP, batches, blobs, softmax_xent
from .fake import attach


class Clock:
    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.mark.parametrize("duration, seconds", [
    (90, 90.0), (2.5, 2.5), ("00:12:00:00", 43200.0), ("01:02:03:04", 93784.0),
    (" 00:00:01:30 ", 90.0), (timedelta(minutes=2), 120.0), ({"hours": 1, "minutes": 1}, 3660.0),
    (None, None)])
def test_duration_forms(duration, seconds):
    assert Timer(duration).duration == seconds


@pytest.mark.parametrize("duration, error", [
    ("12:00:00", ValueError), ("1:2:3:x", ValueError), ("00:00:00:00", ValueError),
    (0, ValueError), (-5, ValueError), (float("inf"), ValueError), ({"weeks": "1"}, ValueError),
    ({"fortnights": 1}, ValueError), (True, TypeError), ([60], TypeError)])
def test_bad_durations(duration, error):
    with pytest.raises(error):
        Timer(duration)


def test_bad_interval():
    with pytest.raises(ValueError, match="interval"):
        Timer(10, interval="batch")


def test_stops_at_the_first_batch_end_at_or_past_the_budget(capsys):
    clock = Clock()
    timer, loop = attach(Timer(2.5, clock=clock))
    timer.on_train_begin(None)                      # start = 100
    stopped = []
    for t in (101.0, 102.0, 102.5, 103.0):
        clock.now = t
        timer.on_train_batch_end(0, None)
        stopped.append(loop.stop_training)
    assert stopped == [False, False, True, True]    # elapsed >= duration, as Lightning
    assert timer.time_elapsed() == 3.0 and timer.time_remaining() == -0.5
    assert capsys.readouterr().out == \
        "Time limit reached. Elapsed time is 0:00:02. Signaling the loop to stop.\n"


def test_epoch_interval_checks_only_at_epoch_ends():
    clock = Clock()
    timer, loop = attach(Timer(1, interval="epoch", verbose=False, clock=clock))
    timer.on_train_begin(None)
    clock.now = 105.0
    timer.on_train_batch_end(0, None)
    assert not loop.stop_training
    timer.on_epoch_end(0, {})
    assert loop.stop_training


def test_elapsed_stops_at_train_end_and_without_duration_it_only_measures():
    clock = Clock()
    timer, loop = attach(Timer(clock=clock))
    assert timer.time_elapsed() == 0.0 and timer.time_remaining() is None
    timer.on_train_begin(None)
    clock.now = 110.0
    timer.on_train_batch_end(0, None)
    timer.on_train_end(None)
    clock.now = 500.0
    assert timer.time_elapsed() == 10.0 and not loop.stop_training


def test_a_resumed_run_counts_the_time_already_spent():
    clock = Clock()
    first, _ = attach(Timer(10, verbose=False, clock=clock))
    first.on_train_begin(None)
    clock.now = 106.0
    state = first.state_dict()
    assert state == {"time_elapsed": 6.0}
    later = Clock(1000.0)
    second, loop = attach(Timer(10, verbose=False, clock=later))
    second.load_state_dict(state)
    second.on_train_begin(None)
    later.now = 1003.0
    second.on_train_batch_end(0, None)
    assert second.time_elapsed() == 9.0 and not loop.stop_training
    later.now = 1004.0
    second.on_train_batch_end(1, None)
    assert loop.stop_training and second.time_remaining() == 0.0
    for bad in ({}, {"time_elapsed": -1.0}, {"time_elapsed": "6"}, None):
        with pytest.raises(ValueError):
            second.load_state_dict(bad)


def test_a_real_run_stops_after_the_batch_that_spends_the_budget():
    ticks = iter(range(1000))
    timer = Timer(5, verbose=False, clock=lambda: float(next(ticks)))
    x, y = blobs(48)
    model = TinyMLP()
    loop = BasicTrainingLoop(model, SGD(model.parameters(), lr=0.1), loss=softmax_xent,
                             callbacks=[timer])
    history = loop.fit(batches(x, y, 8), epochs=3)      # 6 batches per epoch
    # clock: 0 at train begin, k at the k-th batch end: 5 >= 5 after the 5th batch
    assert loop.global_step == 5
    assert history.epoch == [0]                         # the epoch still ends with its logs
    assert timer.time_elapsed() == 6.0                  # on_train_end read the clock once more
