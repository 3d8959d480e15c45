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

EPOCHS = 4                  # of 6 steps (48 samples, batches of 8)


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


def loggers(run_dir):
    return [CSVLogger(run_dir / "log.csv"), TensorBoardLogger(run_dir / "tb", update_freq=1)]


def events(run_dir):
    acc = event_accumulator.EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)]
            for tag in acc.Tags()["scalars"]}


@pytest.mark.parametrize("hook, save_at", [
    ("batch", 9),        # mid-epoch 1
    ("batch", 12),       # after epoch 1's last batch, before its end (logs, validation)
    ("epoch", 12),       # at epoch 1's end
])
@pytest.mark.parametrize("crash_at", [14, 20])
def test_resume_from_a_checkpoint_file(tmp_path, hook, save_at, crash_at):
    x, y = blobs(48)
    data, val = batches(x, y, 8), batches(x, y, 24)
    ckpt, run_a, run_b = tmp_path / "ckpt.safetensors", tmp_path / "a", tmp_path / "b"

    straight, model_a, opt_a, ema_a, _ = build(loggers(run_a))
    history_a = straight.fit(data, val_data=val, epochs=EPOCHS)

    def save(*args):
        if interrupted.global_step == save_at:
            save_checkpoint(ckpt, model=model_b, optimizer=opt_b, loop=interrupted)

    def crash(batch, logs):
        if interrupted.global_step == crash_at:
            raise Crash

    saver = LambdaCallback(**{f"on_{'train_batch' if hook == 'batch' else 'epoch'}_end": save})
    interrupted, model_b, opt_b, _, _ = build(
        [*loggers(run_b), saver, LambdaCallback(on_train_batch_end=crash)])
    with pytest.raises(Crash):
        interrupted.fit(data, val_data=val, epochs=EPOCHS)
    assert (run_b / "log.csv").read_text().count("\n") == 1 + crash_at // 6

    resumed, model_c, opt_c, ema_c, timer_c = build(loggers(run_b))
    load_checkpoint(ckpt, model=model_c, optimizer=opt_c, loop=resumed)
    history_c = resumed.fit(data, val_data=val, epochs=EPOCHS)

    for a, c in zip(ema_a.averages, ema_c.averages):
        np.testing.assert_array_equal(a, c)
    for a, c in zip(model_a.parameters(), model_c.parameters()):
        np.testing.assert_array_equal(a.data, c.data)          # the averages, applied at end
    assert opt_c.param_groups[0]["lr"] == opt_a.param_groups[0]["lr"] == 0.2 * 0.7 ** 4
    # one clock reading per second: the interrupted run saved the time up to its save,
    # the resumed run adds the rest; 26 s either way (24 batch ends, begin, end)
    assert timer_c.time_elapsed() == 26.0
    loss_a = dict(zip(history_a.epoch, history_a.history["loss"]))
    assert {3, 2} <= set(history_c.epoch)
    assert all(loss == loss_a[e] for e, loss in zip(history_c.epoch, history_c.history["loss"]))

    # the files equal those of the run never interrupted, and what it logged
    assert (run_b / "log.csv").read_text() == (run_a / "log.csv").read_text()
    keys = ["loss", "lr", "val_loss"]
    lines = (run_a / "log.csv").read_text().splitlines()
    assert lines[0] == "epoch," + ",".join(keys)
    rows = [line.split(",") for line in lines[1:]]
    assert [int(r[0]) for r in rows] == list(range(EPOCHS))
    for i, key in enumerate(keys, start=1):
        assert [float(r[i]) for r in rows] == history_a.history[key]
    tb_a, tb_b = events(run_a), events(run_b)
    assert tb_b == tb_a
    assert [step for step, _ in tb_a["batch/loss"]] == list(range(1, 6 * EPOCHS + 1))
    assert tb_a["epoch/loss"] == [(6 * (i + 1), float(np.float32(v)))
                                  for i, v in enumerate(history_a.history["loss"])]
