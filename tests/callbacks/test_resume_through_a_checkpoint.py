"""A run interrupted mid-epoch and resumed from a checkpoint file (save_checkpoint /
load_checkpoint with the loop): EMA averages, the callback's schedule and the
timer continue exactly; the CSV and the TensorBoard events hold each epoch and step
once, equal to the uninterrupted run's."""

from __future__ import annotations

import numpy as np
import pytest

from odyssey_training.callbacks import (CSVLogger, EMAWeights, LambdaCallback,
                                        LRSchedulerCallback, TensorBoardLogger, Timer)
from odyssey_training.checkpoint import load_checkpoint, save_checkpoint
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.optimizers import SGD
from odyssey_training.schedulers import StepLR

from ..loops.toy import TinyMLP, batches, blobs, softmax_xent

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator")

EPOCHS, SAVE_AT, CRASH_AT = 4, 9, 14         # 6 steps per epoch: save mid-epoch 1


class Crash(Exception):
    pass


class Clock:
    """One second per reading."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def build(extra=()):
    model = TinyMLP(seed=11)
    opt = SGD(model.parameters(), lr=0.2, momentum=0.5)
    ema = EMAWeights(0.9, use_warmup=True)
    timer = Timer(10 ** 6, clock=Clock())       # read at every batch end
    sched = LRSchedulerCallback(StepLR(opt, step_size=1, gamma=0.7))
    loop = BasicTrainingLoop(model, opt, loss=softmax_xent,
                             callbacks=[ema, sched, timer, *extra])
    return loop, model, opt, ema, timer


def test_resume_from_a_checkpoint_file(tmp_path):
    x, y = blobs(48)
    data, val = batches(x, y, 8), batches(x, y, 24)
    ckpt, csv_path, tb_dir = tmp_path / "ckpt.safetensors", tmp_path / "log.csv", tmp_path / "tb"

    straight, model_a, opt_a, ema_a, _ = build()
    history_a = straight.fit(data, val_data=val, epochs=EPOCHS)

    def save_then_crash(batch, logs):
        if interrupted.global_step == SAVE_AT:
            save_checkpoint(ckpt, model=model_b, optimizer=opt_b, loop=interrupted)
        if interrupted.global_step == CRASH_AT:
            raise Crash

    loggers = lambda: [CSVLogger(csv_path), TensorBoardLogger(tb_dir, update_freq=1)]  # noqa
    interrupted, model_b, opt_b, _, _ = build(
        [*loggers(), LambdaCallback(on_train_batch_end=save_then_crash)])
    with pytest.raises(Crash):
        interrupted.fit(data, val_data=val, epochs=EPOCHS)
    assert csv_path.read_text().count("\n") == 3          # header, epochs 0 and 1

    resumed, model_c, opt_c, ema_c, timer_c = build(loggers())
    load_checkpoint(ckpt, model=model_c, optimizer=opt_c, loop=resumed)
    history_c = resumed.fit(data, val_data=val, epochs=EPOCHS)

    for a, c in zip(ema_a.averages, ema_c.averages):
        np.testing.assert_array_equal(a, c)
    for a, c in zip(model_a.parameters(), model_c.parameters()):
        np.testing.assert_array_equal(a.data, c.data)          # the averages, applied at end
    assert opt_c.param_groups[0]["lr"] == opt_a.param_groups[0]["lr"] == 0.2 * 0.7 ** 4
    # interrupted run: start at reading 1, batches 1..9 read 2..10, the save reads 11:
    # 10 s saved.  Resumed run: start 1, batches 10..24 read 2..16, the end reads 17: 16 s
    assert timer_c.time_elapsed() == 10.0 + 16.0

    keys = ["loss", "lr", "val_loss"]
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "epoch," + ",".join(keys)
    rows = [line.split(",") for line in lines[1:]]
    assert [int(r[0]) for r in rows] == list(range(EPOCHS))
    for i, key in enumerate(keys, start=1):
        assert [float(r[i]) for r in rows] == history_a.history[key]
    assert history_c.history["loss"] == history_a.history["loss"]

    acc = event_accumulator.EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    acc.Reload()
    steps = [e.step for e in acc.Scalars("batch/loss")]
    assert steps == list(range(1, 6 * EPOCHS + 1))           # each step once
    epoch_points = [(e.step, e.value) for e in acc.Scalars("epoch/loss")]
    assert epoch_points == [(6 * (i + 1), float(np.float32(v)))
                            for i, v in enumerate(history_a.history["loss"])]
