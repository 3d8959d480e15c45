"""LRSchedulerCallback (a scheduler stepped from a callback) and Keras 3's
LearningRateScheduler (the lr of each epoch from a function)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from odyssey_training.callbacks import LearningRateScheduler, LRSchedulerCallback
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.optimizers import SGD
from odyssey_training.schedulers import ExponentialLR, ReduceLROnPlateau, StepLR

from ..loops.toy import TinyMLP, batches, blobs, softmax_xent
from .fake import FakeOptimizer, attach


def run(callbacks=(), scheduler=None, epochs=5, accum=1, interval="epoch", sched_for=None):
    x, y = blobs(48)
    model = TinyMLP(seed=5)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    cbs = [cb(opt) for cb in callbacks]
    loop = BasicTrainingLoop(model, opt, loss=softmax_xent, grad_accum_steps=accum,
                             scheduler=scheduler(opt) if scheduler else None,
                             scheduler_interval=interval, callbacks=cbs)
    history = loop.fit(batches(x, y, 8), epochs=epochs)
    return history, [p.data.copy() for p in model.parameters()], opt, cbs


def test_per_epoch_is_the_loops_own_scheduler():
    history, params, _, _ = run([lambda o: LRSchedulerCallback(StepLR(o, step_size=2,
                                                                      gamma=0.5))])
    assert history.history["lr"] == [0.1, 0.1, 0.05, 0.05, 0.025]   # StepLR written out
    ref_history, ref_params, _, _ = run(scheduler=lambda o: StepLR(o, step_size=2, gamma=0.5))
    assert history.history["lr"] == ref_history.history["lr"]
    for a, b in zip(params, ref_params):
        np.testing.assert_array_equal(a, b)


def test_per_step_steps_once_per_optimizer_step():
    # 6 batches per epoch, 2 per optimizer step: 3 steps per epoch, gamma ** steps
    history, params, opt, cbs = run(
        [lambda o: LRSchedulerCallback(ExponentialLR(o, gamma=0.9), interval="step")],
        epochs=2, accum=2)
    assert cbs[0].scheduler.last_epoch == 6
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.9 ** 6, rel=1e-15)
    # "lr" is the lr the epoch's last optimizer step used (steps 3 and 6)
    assert history.history["lr"] == pytest.approx([0.1 * 0.9 ** 2, 0.1 * 0.9 ** 5], rel=1e-15)
    _, ref_params, _, _ = run(scheduler=lambda o: ExponentialLR(o, gamma=0.9), epochs=2,
                              accum=2, interval="step")
    for a, b in zip(params, ref_params):
        np.testing.assert_array_equal(a, b)


def test_plateau_is_fed_the_monitored_log_and_skips_epochs_without_validation():
    opt = FakeOptimizer(lr=1.0)
    cb, loop = attach(LRSchedulerCallback(ReduceLROnPlateau(opt, patience=0, factor=0.5)),
                      optimizer=opt)
    lrs = []
    for epoch, logs in enumerate([{"loss": 1.0, "val_loss": 1.0},
                                  {"loss": 1.0},                       # no validation
                                  {"loss": 1.0, "val_loss": 1.0},      # no improvement
                                  {"loss": 1.0, "val_loss": 0.5}]):
        cb.on_epoch_end(epoch, logs)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [1.0, 1.0, 0.5, 0.5]
    with pytest.raises(KeyError, match="val_acc.*loss, val_loss"):
        LRSchedulerCallback(ReduceLROnPlateau(opt), monitor="val_acc").on_epoch_end(
            0, {"loss": 1.0, "val_loss": 1.0})


def test_state_round_trip_continues_the_schedule():
    opt = FakeOptimizer(lr=1.0)
    cb, _ = attach(LRSchedulerCallback(StepLR(opt, step_size=1, gamma=0.5)), optimizer=opt)
    cb.on_epoch_end(0, {})
    cb.on_epoch_end(1, {})
    state = cb.state_dict()
    opt2 = FakeOptimizer(lr=1.0)
    cb2, _ = attach(LRSchedulerCallback(StepLR(opt2, step_size=1, gamma=0.5)), optimizer=opt2)
    cb2.load_state_dict(state)
    cb2.on_epoch_end(2, {})
    assert opt2.param_groups[0]["lr"] == 0.125
    assert cb2.state_key == "LRSchedulerCallback"
    assert LRSchedulerCallback(StepLR(opt2, 1), key="warmup").state_key == "warmup"


def test_lr_scheduler_callback_bad_arguments():
    opt = FakeOptimizer()
    with pytest.raises(TypeError):
        LRSchedulerCallback(object())
    with pytest.raises(ValueError, match="interval"):
        LRSchedulerCallback(StepLR(opt, 1), interval="batch")
    with pytest.raises(ValueError, match="interval='epoch'"):
        LRSchedulerCallback(ReduceLROnPlateau(opt), interval="step")


# ---- LearningRateScheduler (Keras 3) -----------------------------------------------

def keras_doc_schedule(epoch, lr):
    """The example of Keras's LearningRateScheduler docstring."""
    if epoch < 10:
        return lr
    return lr * math.exp(-0.1)


def test_keras_schedule_of_epoch_and_lr_sets_every_group():
    opt = FakeOptimizer(lr=0.01, groups=2)
    cb, _ = attach(LearningRateScheduler(keras_doc_schedule), optimizer=opt)
    expected, lr = [], 0.01
    for epoch in range(13):
        lr = lr if epoch < 10 else lr * math.exp(-0.1)
        expected.append(lr)
        cb.on_epoch_begin(epoch, None)
        assert [g["lr"] for g in opt.param_groups] == [lr, lr]
    assert opt.param_groups[0]["lr"] == expected[-1]


def test_a_schedule_of_the_epoch_only():
    opt = FakeOptimizer(lr=1.0)
    cb, _ = attach(LearningRateScheduler(lambda epoch: 0.5 ** epoch), optimizer=opt)
    cb.on_epoch_begin(3, None)
    assert opt.param_groups[0]["lr"] == 0.125


def test_verbose_prints_the_keras_line(capsys):
    cb, _ = attach(LearningRateScheduler(lambda epoch: 0.25, verbose=1))
    cb.on_epoch_begin(4, None)
    assert capsys.readouterr().out == \
        "\nEpoch 5: LearningRateScheduler setting learning rate to 0.25.\n"


@pytest.mark.parametrize("value", ["0.1", None, True, float("nan"), -1.0, [0.1]])
def test_a_schedule_returning_a_bad_lr_is_an_error_and_changes_nothing(value):
    opt = FakeOptimizer(lr=0.1)
    cb, _ = attach(LearningRateScheduler(lambda epoch, lr: value), optimizer=opt)
    with pytest.raises(ValueError, match="epoch 0"):
        cb.on_epoch_begin(0, None)
    assert opt.param_groups[0]["lr"] == 0.1


def test_learning_rate_scheduler_in_a_real_run():
    history, _, _, _ = run([lambda o: LearningRateScheduler(lambda e, lr: 0.1 / (1 + e))],
                           epochs=3)
    assert history.history["lr"] == [0.1, 0.05, 0.1 / 3]
