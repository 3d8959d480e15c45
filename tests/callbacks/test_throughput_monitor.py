"""ThroughputMonitor: the epoch logs are loop.timings' own numbers."""

from __future__ import annotations

import math

import pytest

from odyssey_training.callbacks import ThroughputMonitor
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.loops.base import PHASES
from odyssey_training.optimizers import SGD

from ..loops.toy import TinyMLP, batches, blobs, softmax_xent
from .fake import attach

SECONDS = {"data": 0.25, "forward": 1.0, "loss": 0.125, "backward": 1.5, "metrics": 0.5,
           "optimizer": 0.375, "callbacks": 0.0625}


def test_logs_and_summary_from_hand_set_timings(capsys):
    cb, loop = attach(ThroughputMonitor(verbose=1))
    loop.timings.samples = 999
    cb.on_epoch_begin(2, None)                           # resets the timings
    assert loop.timings.samples == 0 and loop.timings.total == 0.0
    t = loop.timings
    t.seconds.update(SECONDS)
    t.batches, t.samples, t.total = 40, 2560, 4.0        # other = 4 - 3.8125 = 0.1875
    logs = {"loss": 1.0}
    cb.on_epoch_end(2, logs)
    assert logs == {"loss": 1.0, "samples_per_sec": 640.0, "batches_per_sec": 10.0,
                    "time/data": 0.25, "time/forward": 1.0, "time/loss": 0.125,
                    "time/backward": 1.5, "time/metrics": 0.5, "time/optimizer": 0.375,
                    "time/callbacks": 0.0625, "time/other": 0.1875, "time/total": 4.0}
    line = ("Epoch 3: 640.0 samples/s, 4.0000 s in 40 batches: data 6.2%, forward 25.0%, "
            "loss 3.1%, backward 37.5%, metrics 12.5%, optimizer 9.4%, callbacks 1.6%, "
            "other 4.7%")
    assert capsys.readouterr().out == line + "\n"
    assert cb.summary() == line


def test_quiet_by_default_and_on_other_ranks(capsys):
    cb, loop = attach(ThroughputMonitor())
    cb.on_epoch_begin(0, None)
    cb.on_epoch_end(0, {})
    cb2, loop2 = attach(ThroughputMonitor(verbose=1))
    loop2.is_global_zero = False
    cb2.on_epoch_begin(0, None)
    cb2.on_epoch_end(0, {})
    assert capsys.readouterr().out == ""
    assert ThroughputMonitor().summary() == "ThroughputMonitor: no epoch measured yet"


def test_a_real_run_logs_each_epochs_timings_exactly():
    x, y = blobs(48)
    model = TinyMLP()
    monitor = ThroughputMonitor()
    loop = BasicTrainingLoop(model, SGD(model.parameters(), lr=0.1), loss=softmax_xent,
                             callbacks=[monitor])
    history = loop.fit(batches(x, y, 8), epochs=2)
    h = history.history
    t = loop.timings                                     # the last epoch's, untouched since
    for phase in PHASES:
        assert h[f"time/{phase}"][-1] == t.seconds[phase]
    assert h["time/other"][-1] == t.other() and h["time/total"][-1] == t.total
    assert h["samples_per_sec"][-1] == 48 / t.total      # reset per epoch: 48, not 96
    assert h["batches_per_sec"][-1] == 6 / t.total
    for epoch in range(2):
        parts = [h[f"time/{p}"][epoch] for p in (*PHASES, "other")]
        assert math.fsum(parts) == pytest.approx(h["time/total"][epoch], rel=1e-12)
        assert h["time/forward"][epoch] > 0 and h["time/optimizer"][epoch] > 0
    assert monitor.last["samples"] == 48 and monitor.last["batches"] == 6


def test_bad_verbose():
    with pytest.raises(ValueError):
        ThroughputMonitor(verbose=2)
