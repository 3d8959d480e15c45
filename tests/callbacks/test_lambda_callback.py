"""LambdaCallback: Keras 3's arguments, the other hooks through kwargs."""

from __future__ import annotations

import pytest

from odyssey_training.callbacks import CallbackList, LambdaCallback
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.optimizers import SGD

from ..loops.toy import TinyMLP, batches, blobs, softmax_xent


def test_every_hook_runs_in_the_keras_order_of_a_real_run():
    calls = []

    def record(name):
        return lambda *args: calls.append((name, *args[:-1]))

    hooks = ("on_train_begin", "on_epoch_begin", "on_train_batch_begin", "on_train_batch_end",
             "on_validation_begin", "on_validation_batch_begin", "on_validation_batch_end",
             "on_validation_end", "on_epoch_end", "on_train_end")
    cb = LambdaCallback(**{h: record(h) for h in hooks})
    x, y = blobs(8)
    model = TinyMLP()
    loop = BasicTrainingLoop(model, SGD(model.parameters(), lr=0.1), loss=softmax_xent,
                             callbacks=[cb])
    loop.fit(batches(x, y, 4), val_data=batches(x, y, 8), epochs=2)
    epoch = lambda e: [("on_epoch_begin", e),                       # noqa: E731
                       ("on_train_batch_begin", 0), ("on_train_batch_end", 0),
                       ("on_train_batch_begin", 1), ("on_train_batch_end", 1),
                       ("on_validation_begin",),
                       ("on_validation_batch_begin", 0), ("on_validation_batch_end", 0),
                       ("on_validation_end",), ("on_epoch_end", e)]
    assert calls == [("on_train_begin",), *epoch(0), *epoch(1), ("on_train_end",)]


def test_hooks_get_the_logs():
    seen = {}
    cb = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.update(epoch=(epoch, logs)),
                        on_validation_end=lambda logs: seen.update(val=logs),
                        on_train_batch_end=lambda batch, logs: seen.update(batch=logs))
    x, y = blobs(8)
    model = TinyMLP()
    loop = BasicTrainingLoop(model, SGD(model.parameters(), lr=0.1), loss=softmax_xent,
                             callbacks=[cb])
    history = loop.fit(batches(x, y, 8), val_data=batches(x, y, 8), epochs=1)
    assert seen["epoch"][0] == 0
    assert seen["epoch"][1]["val_loss"] == history.history["val_loss"][0]
    assert set(seen["val"]) == {"val_loss"}
    assert set(seen["batch"]) == {"batch", "size", "loss"} and seen["batch"]["size"] == 8


def test_only_the_given_hooks_are_called():
    cb = LambdaCallback(on_epoch_end=lambda epoch, logs: None,
                        on_validation_end=lambda logs: None)
    cbs = CallbackList([cb])
    called = sorted(h for h, fs in cbs._calls.items() if fs)
    assert called == ["on_epoch_end", "on_validation_end"]
    assert LambdaCallback(on_epoch_begin=None).__dict__ == {}


def test_an_unknown_hook_or_a_non_callable_is_an_error():
    with pytest.raises(TypeError, match="on_epoch_ends"):
        LambdaCallback(on_epoch_ends=print)
    with pytest.raises(TypeError, match="on_train_end must be callable"):
        LambdaCallback(on_train_end="print")
