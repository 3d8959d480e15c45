"""The hooks BasicTrainingLoop gives subclasses (the distributed loop overrides them):
``_grad_scale`` before each backward, ``_apply_gradients`` once per optimizer step,
``_reduce_states`` before the loss and metrics are computed (training and
validation), ``_run_order`` for every hook call."""

from __future__ import annotations

import numpy as np

from odyssey_training.callbacks import Callback
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.metrics import Accuracy
from odyssey_training.optimizers import SGD

from .toy import TinyMLP, batches, blobs, softmax_xent

X, Y = blobs(40)
TRAIN, VAL = batches(X, Y, 8), batches(X[:16], Y[:16], 8)


def make(cls, lr=0.1, callbacks=()):
    model = TinyMLP()
    return cls(model, SGD(model.parameters(), lr=lr), loss=softmax_xent,
               metrics={"acc": Accuracy(num_classes=3)}, callbacks=list(callbacks),
               grad_accum_steps=2)


class Hooked(BasicTrainingLoop):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scales, self.applied, self.reduced, self.orders = [], 0, [], 0

    def _grad_scale(self, size, batch, last):
        self.scales.append((size, batch, last))
        return 0.5 * super()._grad_scale(size, batch, last)

    def _apply_gradients(self):
        assert all(p.grad is not None for p in self.model.parameters())
        self.applied += 1
        super()._apply_gradients()

    def _reduce_states(self, loss, metrics):
        self.reduced.append(loss.count)
        wrong = Accuracy(num_classes=3)
        wrong.merge(metrics["acc"])
        wrong.correct = 0                     # as many samples again, none right
        metrics["acc"].merge(wrong)

    def _run_order(self, history, train_begin=False):
        self.orders += 1
        return super()._run_order(history, train_begin)


def test_the_hooks_run_where_documented():
    class Count(Callback):
        calls = 0

        def on_train_batch_end(self, batch, logs=None):
            Count.calls += 1

    plain, hooked = make(BasicTrainingLoop, lr=0.05), make(Hooked, callbacks=[Count()])
    plain_logs = plain.fit(TRAIN, VAL, epochs=2).history
    logs = hooked.fit(TRAIN, VAL, epochs=2).history
    # 0.5 x the gradient with lr 0.1 is SGD's step with lr 0.05
    for a, b in zip(hooked.model.parameters(), plain.model.parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-15)
    assert hooked.scales == [(8, i, 5) for i in range(5)] * 2
    assert hooked.applied == hooked.global_step == 6           # 3 steps per epoch of 5
    assert hooked.reduced == [40, 16, 40, 16]                  # train, then validation
    np.testing.assert_allclose(logs["acc"], np.array(plain_logs["acc"]) / 2)
    np.testing.assert_allclose(logs["val_acc"], np.array(plain_logs["val_acc"]) / 2)
    np.testing.assert_allclose(logs["loss"], plain_logs["loss"], rtol=1e-10)
    assert hooked.orders == 2 and Count.calls == 10
