"""ProgressBar: silent off a terminal, a tqdm bar with Keras-formatted values on one,
and the running metrics computed only at the bounded refresh rate."""

from __future__ import annotations

import io

import pytest

from odyssey_training.callbacks import ProgressBar
from odyssey_training.callbacks.progress_bar import postfix
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.metrics import Accuracy
from odyssey_training.optimizers import SGD

from ..loops.toy import TinyMLP, batches, blobs, softmax_xent
from .fake import attach

pytest.importorskip("tqdm")


class TTY(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class CountingMetrics:
    """Stands in for the loop's MetricCollection and counts compute() calls."""

    def __init__(self):
        self.calls = 0
        self.value = 0.75

    def compute(self):
        self.calls += 1
        return {"acc": self.value}


def test_postfix_formats_values_as_keras_progbar():
    # Keras: f"{v:.4f}" when |v| > 1e-3, else f"{v:.4e}"
    assert postfix({"loss": 0.5, "acc": 0.98765, "lr": 1e-4, "z": 0.0, "big": -12.3456789}) \
        == "loss=0.5000, acc=0.9877, lr=1.0000e-04, z=0.0000e+00, big=-12.3457"


def test_the_postfix_is_computed_only_at_the_refresh_rate():
    clock, stream, metrics = Clock(), TTY(), CountingMetrics()
    cb, loop = attach(ProgressBar(refresh_rate=0.5, file=stream, clock=clock), epochs=2,
                      steps=6, metrics=metrics)
    cb.on_train_begin(None)
    cb.on_epoch_begin(0, None)
    times = [0.1, 0.2, 0.6, 0.7, 1.05, 1.2]        # refresh at 0.6 and 1.2 (>= 0.5 apart)
    losses = [1.0, 0.5, 0.75, 0.25, 0.5, 0.0]
    seen = []
    for b, (t, loss) in enumerate(zip(times, losses)):
        clock.now = t
        loop.loss_mean.update(loss, weight=2)
        cb.on_train_batch_end(b, {"batch": b, "size": 2, "loss": loss})
        seen.append(metrics.calls)
    assert seen == [0, 0, 1, 1, 1, 2]
    screen = stream.getvalue()
    assert "Epoch 1/2" in screen
    assert "3/6" in screen and "loss=0.7500, acc=0.7500" in screen   # mean of 1, .5, .75
    assert "6/6" in screen and "loss=0.5000, acc=0.7500" in screen   # mean of all six
    assert "4/6" not in screen and "5/6" not in screen               # no redraw between
    cb.on_epoch_end(0, {"loss": 0.5, "acc": 0.8, "lr": 0.1, "val_loss": 0.0005,
                        "note": "text is not shown"})
    last = stream.getvalue().split("\r")[-1]
    assert "6/6" in last
    assert last.rstrip().endswith("loss=0.5000, acc=0.8000, lr=0.1000, val_loss=5.0000e-04]")
    assert metrics.calls == 2                       # the epoch's logs, not a recompute


def test_a_resumed_epoch_starts_the_bar_at_the_batches_done():
    stream = TTY()
    cb, loop = attach(ProgressBar(file=stream, clock=Clock()), epochs=3, steps=10)
    loop.batches_done = 4
    cb.on_train_begin(None)
    cb.on_epoch_begin(1, None)
    cb.on_epoch_end(1, {"loss": 1.0})
    assert "Epoch 2/3" in stream.getvalue() and "4/10" in stream.getvalue()


@pytest.mark.parametrize("kwargs, tty, global_zero, draws", [
    ({}, False, True, False),                     # not a terminal: silent
    ({}, True, True, True),
    ({"verbose": 0}, True, True, False),
    ({"disable": True}, True, True, False),
    ({"disable": False}, False, True, True),      # forced, e.g. into a log file
    ({}, True, False, False),                     # another rank
])
def test_when_it_draws(kwargs, tty, global_zero, draws):
    stream = TTY() if tty else io.StringIO()
    cb, loop = attach(ProgressBar(file=stream, **kwargs), epochs=1, steps=2)
    loop.is_global_zero = global_zero
    cb.on_train_begin(None)
    cb.on_epoch_begin(0, None)
    for b in range(2):
        loop.loss_mean.update(1.0)
        cb.on_train_batch_end(b, {"batch": b, "size": 1, "loss": 1.0})
    cb.on_epoch_end(0, {"loss": 1.0})
    cb.on_train_end(None)
    assert bool(stream.getvalue()) is draws


def fit(callback, epochs=2):
    x, y = blobs(48)
    model = TinyMLP(seed=4)
    loop = BasicTrainingLoop(model, SGD(model.parameters(), lr=0.1), loss=softmax_xent,
                             metrics={"acc": Accuracy(num_classes=3)}, callbacks=[callback])
    return loop.fit(batches(x, y, 16), val_data=batches(x, y, 16), epochs=epochs)


def test_silent_in_a_real_run_when_stdout_is_not_a_tty(capsys):
    fit(ProgressBar())                              # default: sys.stdout, captured
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_a_real_run_on_a_terminal_shows_each_epochs_logs():
    stream = TTY()
    history = fit(ProgressBar(file=stream))
    screen = stream.getvalue()
    for epoch in range(2):
        h = {k: v[epoch] for k, v in history.history.items()}
        assert f"Epoch {epoch + 1}/2" in screen
        assert postfix({"loss": h["loss"], "acc": h["acc"], "lr": h["lr"],
                        "val_loss": h["val_loss"], "val_acc": h["val_acc"]}) in screen
    assert "3/3" in screen


@pytest.mark.parametrize("kwargs", [{"verbose": 2}, {"disable": "auto"},
                                    {"refresh_rate": -1}, {"clock": 3}])
def test_bad_arguments(kwargs):
    with pytest.raises((ValueError, TypeError)):
        ProgressBar(**kwargs)
