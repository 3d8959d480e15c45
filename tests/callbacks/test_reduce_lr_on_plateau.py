"""The ReduceLROnPlateau callback against Keras 3's rules (keras_reference.py and
cases worked out by hand), driven by a fake loop."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from odyssey_training.callbacks import ReduceLROnPlateau

from .keras_reference import keras_reduce_lr
from .monitor_fakes import FakeLoop


def run(cb, values, lrs=(1.0,), key="val_loss"):
    """Returns (logged learning_rate per epoch, group lrs after each epoch)."""
    loop = FakeLoop(lrs=lrs)
    cb.set_loop(loop)
    cb.on_train_begin()
    logged, after = [], []
    for epoch, value in enumerate(values):
        logs = {"loss": 0.0}
        if value is not None:
            logs[key] = value
        cb.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
        after.append([g["lr"] for g in loop.optimizer.param_groups])
    return logged, after


def test_hand_worked_patience_cooldown_and_floor():
    # flat loss: best set at e0; wait reaches 2 at e2 -> lr 0.5, cooldown 1; Keras's
    # cooldown only zeroes wait in the next epoch, so e3 counts wait 1 again and e4
    # reduces; ... 0.0625 is clamped to min_lr 0.1; then lr > float32(0.1) is False
    cb = ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.1, min_delta=0)
    logged, after = run(cb, [1.0] * 11)
    assert logged == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.1, 0.1]
    assert [a[0] for a in after] == logged[1:] + [0.1]
    assert (cb.best, cb.wait, cb.cooldown_counter) == (1.0, 2, 0)


def test_hand_worked_min_delta_default():
    # default min_delta 1e-4: 0.99995 is no improvement on 1.0; patience 1 reduces at e1
    cb = ReduceLROnPlateau(patience=1)
    logged, after = run(cb, [1.0, 0.99995, 0.5], lrs=(0.1,))
    assert logged == [0.1, 0.1, 0.1 * 0.1]
    assert after[-1] == [0.1 * 0.1] and cb.best == 0.5


def test_every_group_is_reduced_and_the_first_is_logged():
    cb = ReduceLROnPlateau(factor=0.5, patience=0, min_lr=0.15)
    logged, after = run(cb, [1.0, 1.0, 1.0], lrs=(1.0, 0.2))
    assert after == [[1.0, 0.2], [0.5, 0.15], [0.25, 0.15]]
    assert logged == [1.0, 1.0, 0.5]


def test_max_mode_and_missing_validation_epochs():
    cb = ReduceLROnPlateau(monitor="val_acc", mode="max", patience=1, factor=0.5)
    logged, after = run(cb, [0.5, None, 0.4, None, 0.6], key="val_acc")
    assert [a[0] for a in after] == [1.0, 1.0, 0.5, 0.5, 0.5]
    assert cb.best == 0.6


values = st.lists(st.sampled_from([None, 0.0, 0.25, 0.5, 0.75, 1.0]), min_size=1, max_size=16)


@settings(max_examples=300)
@given(values, st.sampled_from(["min", "max"]), st.sampled_from([0.0, 0.5, 0.1]),
       st.integers(0, 3), st.sampled_from([0.0, 0.25, 1e-4]), st.integers(0, 2),
       st.sampled_from([0.0, 0.05, 0.3]),
       st.lists(st.sampled_from([1.0, 0.3, 0.05]), min_size=1, max_size=3))
def test_matches_keras_on_scripted_sequences(seq, mode, factor, patience, min_delta,
                                             cooldown, min_lr, lrs):
    kwargs = dict(mode=mode, factor=factor, patience=patience, min_delta=min_delta,
                  cooldown=cooldown, min_lr=min_lr)
    cb = ReduceLROnPlateau(**kwargs)
    logged, after = run(cb, seq, lrs=lrs)
    ref_logged, ref_after, ref_state = keras_reduce_lr(seq, lrs, **kwargs)
    assert logged == ref_logged and after == ref_after
    assert (cb.best, cb.wait, cb.cooldown_counter) == ref_state


def test_state_round_trip():
    seq = [1.0, 1.0, 1.0, 0.9, 1.0, 1.0, 1.0]
    full = ReduceLROnPlateau(patience=2, cooldown=2, factor=0.5)
    _, full_after = run(full, seq)
    first = ReduceLROnPlateau(patience=2, cooldown=2, factor=0.5)
    _, after = run(first, seq[:3])
    second = ReduceLROnPlateau(patience=2, cooldown=2, factor=0.5)
    second.load_state_dict(first.state_dict())
    loop = FakeLoop(lrs=(after[-1][0],), resuming=True)
    second.set_loop(loop)
    second.on_train_begin()
    for epoch in range(3, len(seq)):
        second.on_epoch_end(epoch, {"val_loss": seq[epoch]})
    assert loop.optimizer.param_groups[0]["lr"] == full_after[-1][0]
    assert second.state_dict() == full.state_dict()


def test_errors():
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="factor must be >= 0"):
        ReduceLROnPlateau(factor=-0.5)
    with pytest.raises(ValueError, match="min_lr"):
        ReduceLROnPlateau(min_lr=-1)
    with pytest.raises(ValueError, match="cooldown"):
        ReduceLROnPlateau(cooldown=-1)
    with pytest.raises(ValueError, match="mode must be one of"):
        ReduceLROnPlateau(mode="up")
    with pytest.raises(KeyError, match="available: learning_rate, loss, val_loss"):
        run(ReduceLROnPlateau(monitor="val_acc", mode="max"), [1.0])
    with pytest.raises(ValueError, match="wait"):
        ReduceLROnPlateau().load_state_dict({"best": None, "wait": -1, "cooldown_counter": 0})
