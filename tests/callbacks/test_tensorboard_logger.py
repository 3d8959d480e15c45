"""TensorBoardLogger: event files read back with TensorBoard's own reader."""

from __future__ import annotations

import numpy as np
import pytest

from odyssey_training.callbacks import TensorBoardLogger
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.optimizers import SGD

from ..loops.toy import TinyMLP, batches, blobs, softmax_xent
from .fake import attach

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator")


def f32(value):
    """What an event file holds for ``value`` (scalars are stored as float32)."""
    return float(np.float32(value))


def read(log_dir):
    """{tag: [(step, value), ...]} and the histogram tags, as TensorBoard reads them."""
    acc = event_accumulator.EventAccumulator(
        str(log_dir), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    tags = acc.Tags()
    scalars = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in tags["scalars"]}
    return scalars, acc, tags["histograms"]


def drive(cb, loop, epochs, batch_losses, sizes, steps_per_batch=1, logs=None):
    """Epochs of batches: the fake loop steps its optimizer every ``steps_per_batch``."""
    cb.on_train_begin(None)
    seen = 0
    for epoch in range(epochs):
        cb.on_epoch_begin(epoch, None)
        for b, (loss, size) in enumerate(zip(batch_losses[epoch], sizes)):
            seen += 1
            if seen % steps_per_batch == 0:
                loop.global_step += 1
            cb.on_train_batch_end(b, {"batch": b, "size": size, "loss": loss})
        cb.on_epoch_end(epoch, dict(logs[epoch]))
    cb.on_train_end(None)


def test_epoch_scalars_at_the_global_step(tmp_path):
    cb, loop = attach(TensorBoardLogger(tmp_path))
    logs = [{"loss": 0.75, "acc": 0.5, "lr": 0.1, "val_loss": 0.875, "note": "x"},
            {"loss": 0.5, "acc": 0.625, "lr": 0.05, "val_loss": 0.625}]
    drive(cb, loop, 2, [[1.0, 0.5, 0.25]] * 2, [4, 4, 4], logs=logs)
    scalars, _, hist = read(tmp_path)
    assert sorted(scalars) == ["epoch/acc", "epoch/loss", "epoch/lr", "epoch/val_loss"]
    assert scalars["epoch/loss"] == [(3, 0.75), (6, 0.5)]
    assert scalars["epoch/val_loss"] == [(3, 0.875), (6, 0.625)]
    assert scalars["epoch/lr"] == [(3, f32(0.1)), (6, f32(0.05))]
    assert hist == []


def test_batch_loss_every_n_steps_is_the_weighted_mean_since_the_last_point(tmp_path):
    cb, loop = attach(TensorBoardLogger(tmp_path, update_freq=2))
    losses = [[1.0, 2.0, 4.0, 8.0, 0.5, 0.25]]
    sizes = [2, 2, 1, 3, 4, 4]
    # grad accumulation of 2 batches per step: steps 1, 2, 3 after batches 2, 4, 6
    drive(cb, loop, 1, losses, sizes, steps_per_batch=2, logs=[{"loss": 1.0}])
    scalars, _, _ = read(tmp_path)
    # step 2 (every 2nd step): batches 1..4 -> (2*1 + 2*2 + 1*4 + 3*8) / 8
    assert scalars["batch/loss"] == [(2, f32((2 * 1 + 2 * 2 + 1 * 4 + 3 * 8) / 8))]
    assert scalars["batch/lr"] == [(2, f32(0.1))]


def test_each_epochs_events_are_on_disk_when_it_ends(tmp_path):
    cb, loop = attach(TensorBoardLogger(tmp_path, update_freq="batch"))
    cb.on_train_begin(None)
    cb.on_epoch_begin(0, None)
    loop.global_step = 1
    cb.on_train_batch_end(0, {"batch": 0, "size": 1, "loss": 2.0})
    cb.on_epoch_end(0, {"loss": 2.0})
    scalars, _, _ = read(tmp_path)                     # the file is still open
    assert scalars == {"batch/loss": [(1, 2.0)], "batch/lr": [(1, f32(0.1))],
                       "epoch/loss": [(1, 2.0)]}
    cb.on_train_end(None)


def test_taking_the_state_puts_the_events_so_far_on_disk(tmp_path):
    # a checkpoint saves the loop's state: a run resumed from it must find these events
    cb, loop = attach(TensorBoardLogger(tmp_path, update_freq="batch"))
    cb.on_epoch_begin(0, None)
    for b, loss in enumerate([3.0, 1.0]):
        loop.global_step += 1
        cb.on_train_batch_end(b, {"batch": b, "size": 1, "loss": loss})
    cb.state_dict()
    scalars, _, _ = read(tmp_path)                     # the file is still open
    assert scalars["batch/loss"] == [(1, 3.0), (2, 1.0)]
    cb.on_train_end(None)


def test_update_freq_batch_logs_every_step(tmp_path):
    cb, loop = attach(TensorBoardLogger(tmp_path, update_freq="batch"))
    drive(cb, loop, 1, [[3.0, 1.0]], [1, 1], logs=[{"loss": 2.0}])
    scalars, _, _ = read(tmp_path)
    assert scalars["batch/loss"] == [(1, 3.0), (2, 1.0)]


def test_histograms_every_n_epochs(tmp_path):
    model = TinyMLP()
    cb, loop = attach(TensorBoardLogger(tmp_path, histogram_freq=2), model=model)
    drive(cb, loop, 4, [[1.0]] * 4, [1], logs=[{"loss": 1.0}] * 4)
    _, acc, hist = read(tmp_path)
    assert sorted(hist) == ["weights/b1", "weights/b2", "weights/w1", "weights/w2"]
    events = acc.Histograms("weights/w1")
    assert [e.step for e in events] == [2, 4]          # after epochs 1 and 3
    w1 = model.w1.data
    h = events[-1].histogram_value
    assert h.num == w1.size and h.min == w1.min() and h.max == w1.max()
    assert h.sum == pytest.approx(w1.sum())


def test_a_resumed_run_hides_what_the_interrupted_run_wrote_after_its_state(tmp_path):
    cb, loop = attach(TensorBoardLogger(tmp_path, update_freq="batch"))
    drive(cb, loop, 2, [[1.0, 2.0], [3.0, 4.0]], [1, 1],
          logs=[{"loss": 1.5}, {"loss": 3.5}])          # steps 1..4, epoch points at 2, 4
    # resume from the state after epoch 0 (global_step 2): steps 3, 4 run again
    cb2, loop2 = attach(TensorBoardLogger(tmp_path, update_freq="batch"))
    loop2.global_step = 2
    cb2.on_train_begin(None)
    cb2.on_epoch_begin(1, None)
    for b, loss in enumerate([30.0, 40.0]):
        loop2.global_step += 1
        cb2.on_train_batch_end(b, {"batch": b, "size": 1, "loss": loss})
    cb2.on_epoch_end(1, {"loss": 35.0})
    cb2.on_train_end(None)
    scalars, _, _ = read(tmp_path)
    assert scalars["batch/loss"] == [(1, 1.0), (2, 2.0), (3, 30.0), (4, 40.0)]
    assert scalars["epoch/loss"] == [(2, 1.5), (4, 35.0)]


def test_a_run_resumed_after_an_epochs_last_batch_writes_that_epochs_end_once(tmp_path):
    cb, loop = attach(TensorBoardLogger(tmp_path, update_freq="batch"), steps=2)
    cb.on_train_begin(None)
    cb.on_epoch_begin(0, None)
    for b, loss in enumerate([1.0, 2.0]):
        loop.global_step += 1
        loop.batches_done = b + 1
        cb.on_train_batch_end(b, {"batch": b, "size": 1, "loss": loss})
    state = cb.state_dict()                  # a backup after the epoch's last batch
    assert state == {"loss_sum": 0.0, "loss_count": 0, "last_point": [2, 2.0, 0.1]}
    cb.on_epoch_end(0, {"loss": 1.5})        # the interrupted run goes on, then crashes
    cb.on_epoch_begin(1, None)
    loop.global_step = 3
    cb.on_train_batch_end(0, {"batch": 0, "size": 1, "loss": 9.0})
    cb._writer.flush()

    cb2, loop2 = attach(TensorBoardLogger(tmp_path, update_freq="batch"), steps=2)
    loop2.global_step, loop2.batches_done = 2, 2
    cb2.load_state_dict(state)
    cb2.on_train_begin(None)
    cb2.on_epoch_begin(0, None)              # the restored epoch: no batches left
    cb2.on_epoch_end(0, {"loss": 1.5})
    cb2.on_epoch_begin(1, None)
    for b, loss in enumerate([30.0, 40.0]):
        loop2.global_step += 1
        cb2.on_train_batch_end(b, {"batch": b, "size": 1, "loss": loss})
    cb2.on_epoch_end(1, {"loss": 35.0})
    cb2.on_train_end(None)
    scalars, _, _ = read(tmp_path)
    assert scalars["batch/loss"] == [(1, 1.0), (2, 2.0), (3, 30.0), (4, 40.0)]
    assert scalars["epoch/loss"] == [(2, 1.5), (4, 35.0)]


def test_the_mean_since_the_last_point_survives_a_resume(tmp_path):
    cb, loop = attach(TensorBoardLogger(tmp_path, update_freq=3))
    cb.on_epoch_begin(0, None)
    for loss in (1.0, 2.0):
        loop.global_step += 1
        cb.on_train_batch_end(0, {"batch": 0, "size": 2, "loss": loss})
    cb2, loop2 = attach(TensorBoardLogger(tmp_path / "resumed", update_freq=3))
    cb2.load_state_dict(cb.state_dict())
    loop2.global_step = 2
    cb2.on_epoch_begin(0, None)
    loop2.global_step = 3
    cb2.on_train_batch_end(0, {"batch": 0, "size": 4, "loss": 4.0})
    cb2.on_train_end(None)
    scalars, _, _ = read(tmp_path / "resumed")
    assert scalars["batch/loss"] == [(3, (2 * 1.0 + 2 * 2.0 + 4 * 4.0) / 8)]
    for bad in ({}, {"loss_sum": 0.0, "loss_count": -1, "last_point": None},
                {"loss_sum": 0.0, "loss_count": 0, "last_point": [1]}):
        with pytest.raises(ValueError):
            cb2.load_state_dict(bad)


def test_only_the_global_zero_process_writes(tmp_path):
    cb, loop = attach(TensorBoardLogger(tmp_path / "tb"))
    loop.is_global_zero = False
    drive(cb, loop, 1, [[1.0]], [1], logs=[{"loss": 1.0}])
    assert not (tmp_path / "tb").exists()


def test_a_real_run_matches_the_history(tmp_path):
    x, y = blobs(48)
    data = batches(x, y, 16)
    model = TinyMLP(seed=2)
    loop = BasicTrainingLoop(model, SGD(model.parameters(), lr=0.1), loss=softmax_xent,
                             callbacks=[TensorBoardLogger(tmp_path)])
    history = loop.fit(data, val_data=data, epochs=3)
    scalars, _, _ = read(tmp_path)
    for key in ("loss", "val_loss", "lr"):
        steps, values = zip(*scalars[f"epoch/{key}"])
        assert steps == (3, 6, 9)
        assert values == tuple(f32(v) for v in history.history[key])


def test_the_writer_library_does_not_need_torch():
    import importlib.metadata as md
    requires = md.requires("tensorboardX") or []
    assert not any(r.split()[0].lower().startswith("torch") for r in requires
                   if "extra ==" not in r)


@pytest.mark.parametrize("kwargs", [{"update_freq": "step"}, {"update_freq": 0},
                                    {"histogram_freq": -1}, {"histogram_freq": 1.5}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        TensorBoardLogger("logs", **kwargs)
