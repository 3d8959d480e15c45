"""EarlyStopping against Keras 3's rules (tests/callbacks/keras_reference.py and
cases worked out by hand), driven by a fake loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from odyssey_training.callbacks import EarlyStopping
from odyssey_training.metrics import Accuracy

from .keras_reference import keras_early_stopping
from .monitor_fakes import FakeLoop


def run(cb, values, key="val_loss", loop=None):
    """Keras's fit epoch loop: the model's parameters hold the epoch number during
    that epoch; stop when the callback asks.  Returns (loop, epochs run)."""
    loop = loop or FakeLoop()
    cb.set_loop(loop)
    cb.on_train_begin()
    epochs = 0
    for epoch, value in enumerate(values):
        loop.model.mark(epoch)
        logs = {"loss": 0.0}
        if value is not None:
            logs[key] = value
        cb.on_epoch_end(epoch, logs)
        epochs += 1
        if loop.stop_training:
            break
    loop.model.mark(-1.0)
    cb.on_train_end({})
    return loop, epochs


def weights_epoch(loop):
    return float(loop.model.params[0].data[0])


def test_hand_worked_patience():
    # best 1.0 (e0), 0.9 (e1); e2, e3 do not improve -> wait 2 >= patience 2 at e3
    cb = EarlyStopping(patience=2)
    loop, epochs = run(cb, [1.0, 0.9, 0.95, 0.92, 0.91])
    assert (epochs, cb.stopped_epoch, cb.best, cb.best_epoch, cb.wait) == (4, 3, 0.9, 1, 2)
    assert loop.stop_training


def test_hand_worked_min_delta_is_strict():
    # an improvement by exactly min_delta does not count: 0.75 + 0.25 < 1.0 is False
    cb = EarlyStopping(monitor="loss", min_delta=0.25, patience=1)
    _, epochs = run(cb, [1.0, 0.75, 0.5], key="loss")
    assert (epochs, cb.stopped_epoch, cb.best) == (2, 1, 1.0)


def test_hand_worked_baseline_keeps_waiting_but_improvements_never_stop():
    # Keras: beating the best without beating the baseline returns before the stop test
    cb = EarlyStopping(patience=2, baseline=0.5)
    _, epochs = run(cb, [0.8, 0.7, 0.6, 0.55])
    assert (epochs, cb.stopped_epoch, cb.wait, cb.best) == (4, 0, 4, 0.55)
    cb = EarlyStopping(patience=2, baseline=0.5)
    _, epochs = run(cb, [0.8, 0.9])
    assert (epochs, cb.stopped_epoch, cb.wait) == (2, 1, 2)


def test_restore_best_weights_even_without_stopping():
    cb = EarlyStopping(patience=5, restore_best_weights=True)
    loop, epochs = run(cb, [3.0, 1.0, 2.0])
    assert epochs == 3 and cb.stopped_epoch == 0
    assert weights_epoch(loop) == 1.0 and cb.best_epoch == 1
    # in place: the same arrays the optimizer points at
    assert all(p.data.base is None for p in loop.model.params)


def test_restore_best_weights_after_stopping_in_max_mode():
    cb = EarlyStopping(monitor="val_acc", mode="max", patience=1, restore_best_weights=True)
    loop, epochs = run(cb, [0.5, 0.7, 0.6, 0.9], key="val_acc")
    assert (epochs, cb.stopped_epoch, weights_epoch(loop)) == (3, 2, 1.0)


def test_start_from_epoch_and_restore_from_first_monitored_epoch():
    # epochs 0, 1 are warm-up; baseline 0.1 is never beaten, so after patience 1
    # it stops at epoch 3 and restores the best of the monitored epochs (2)
    cb = EarlyStopping(patience=1, baseline=0.1, restore_best_weights=True,
                       start_from_epoch=2)
    loop, epochs = run(cb, [0.01, 0.02, 0.5, 0.6, 0.7])
    assert (epochs, cb.stopped_epoch, cb.best_epoch, weights_epoch(loop)) == (4, 3, 2, 2.0)


def test_val_key_absent_in_an_epoch_without_validation_is_skipped():
    cb = EarlyStopping(patience=1)
    _, epochs = run(cb, [1.0, None, 2.0, None, 3.0])
    assert (epochs, cb.stopped_epoch) == (3, 2)


values = st.lists(st.sampled_from([None, 0.0, 0.25, 0.5, 0.75, 1.0, float("nan")]),
                  min_size=1, max_size=12)


@settings(max_examples=300)
@given(values, st.sampled_from(["min", "max"]), st.sampled_from([0, 0.25, -0.5]),
       st.integers(0, 3), st.sampled_from([None, 0.25, 0.75]), st.booleans(),
       st.integers(0, 3))
def test_matches_keras_on_scripted_sequences(seq, mode, min_delta, patience, baseline,
                                             restore, start):
    cb = EarlyStopping(mode=mode, min_delta=min_delta, patience=patience, baseline=baseline,
                       restore_best_weights=restore, start_from_epoch=start)
    loop, epochs = run(cb, seq)
    ref = keras_early_stopping(seq, mode=mode, min_delta=min_delta, patience=patience,
                               baseline=baseline, restore_best_weights=restore,
                               start_from_epoch=start)
    assert epochs == ref["epochs_run"]
    assert cb.stopped_epoch == ref["stopped_epoch"] and loop.stop_training == (
        ref["stopped_epoch"] > 0)
    np.testing.assert_equal(cb.best, ref["best"])
    assert (cb.best_epoch, cb.wait) == (ref["best_epoch"], ref["wait"])
    expected = -1.0 if ref["restored_epoch"] is None else float(ref["restored_epoch"])
    assert weights_epoch(loop) == expected


def test_state_round_trip_continues_counting():
    seq = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9]
    full = EarlyStopping(patience=3, restore_best_weights=True)
    full_loop, _ = run(full, seq)
    first = EarlyStopping(patience=3, restore_best_weights=True)
    loop = FakeLoop()
    first.set_loop(loop)
    first.on_train_begin()
    for epoch in range(3):
        loop.model.mark(epoch)
        first.on_epoch_end(epoch, {"val_loss": seq[epoch]})
    state = first.state_dict()
    second = EarlyStopping(patience=3, restore_best_weights=True)
    second.load_state_dict(state)
    resumed = FakeLoop(resuming=True)       # on_train_begin keeps a restored state
    second.set_loop(resumed)
    second.on_train_begin()
    assert (second.best, second.wait, second.best_epoch) == (0.5, 1, 1)
    resumed.resuming = False
    for epoch in range(3, len(seq)):
        resumed.model.mark(epoch)
        second.on_epoch_end(epoch, {"val_loss": seq[epoch]})
        if resumed.stop_training:
            break
    second.on_train_end({})
    assert second.stopped_epoch == full.stopped_epoch == 4
    assert weights_epoch(resumed) == weights_epoch(full_loop) == 1.0


def test_on_train_begin_resets_for_a_fresh_fit():
    cb = EarlyStopping(patience=0)
    run(cb, [1.0, 2.0])
    assert cb.stopped_epoch == 1
    loop, epochs = run(cb, [5.0, 4.0, 3.0])
    assert (epochs, cb.stopped_epoch, cb.best) == (3, 0, 3.0)


def test_auto_mode_reads_the_metric_direction():
    cb = EarlyStopping(monitor="val_acc", patience=0)
    loop, epochs = run(cb, [0.5, 0.6, 0.55], key="val_acc",
                       loop=FakeLoop(metrics={"acc": Accuracy(num_classes=3)}))
    assert (epochs, cb.stopped_epoch, cb.best) == (3, 2, 0.6)


def test_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        EarlyStopping(mode="maximum")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(TypeError, match="restore_best_weights"):
        EarlyStopping(restore_best_weights=1)
    with pytest.raises(ValueError, match="cannot determine"):
        run(EarlyStopping(monitor="val_f00"), [1.0], key="val_f00")
    cb = EarlyStopping(monitor="val_acc", mode="max")
    with pytest.raises(KeyError, match=r"'val_acc'.*available: loss, val_loss"):
        run(cb, [1.0], key="val_loss")
    with pytest.raises(KeyError, match="available: loss"):
        run(EarlyStopping(monitor="acc", mode="max"), [1.0], key="val_loss")
    with pytest.raises(ValueError, match="best_weights"):
        EarlyStopping().load_state_dict({"best": 1.0, "best_epoch": 0, "wait": 0,
                                         "stopped_epoch": 0, "best_weights": [[1.0]]})
