"""The loop's state_dict: interrupting a run at any batch and continuing in a new
loop (new model, optimizer, scheduler objects) ends bit-identical to the
uninterrupted run, logs included; a bad state changes nothing."""

import copy

import numpy as np
import pytest

from odyssey_training.callbacks import Callback
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.metrics import Accuracy, F1Score
from odyssey_training.optimizers import Adam
from odyssey_training.schedulers import CosineAnnealingLR

from .toy import TinyMLP, batches, blobs, softmax_xent

X, Y = blobs(80)
TRAIN = batches(X, Y, 16)          # 5 batches per epoch
VAL = batches(*blobs(40, seed=9), 20)
EPOCHS = 3


class Interrupt(Exception):
    pass


class SaveAndStop(Callback):
    """Snapshot everything after optimizer-visible batch ``at`` (global batch count) and
    abort, as a killed process would after its last checkpoint."""

    def __init__(self, at: int) -> None:
        self.at, self.seen, self.saved = at, 0, None

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.at:
            loop = self.loop
            self.saved = copy.deepcopy({
                "params": [p.data for p in loop.model.parameters()],
                "optimizer": loop.optimizer.state_dict(),
                "scheduler": loop.scheduler.state_dict(),
                "loop": loop.state_dict()})
            raise Interrupt


def build(accum: int = 1):
    model = TinyMLP(seed=3)
    opt = Adam(model.parameters(), lr=0.03)
    sched = CosineAnnealingLR(opt, T_max=EPOCHS * 5)
    loop = BasicTrainingLoop(model, opt, loss=softmax_xent, scheduler=sched,
                             scheduler_interval="step", grad_accum_steps=accum,
                             metrics={"acc": Accuracy(num_classes=3),
                                      "f1": F1Score(num_classes=3, average="macro")})
    return model, opt, sched, loop


@pytest.mark.parametrize("accum", [1, 2])
@pytest.mark.parametrize("at", [1, 3, 5, 7, 10, 14])
def test_interrupted_run_continues_bit_for_bit(at, accum):
    model, _, _, loop = build(accum)
    full = loop.fit(TRAIN, VAL, epochs=EPOCHS).history
    expected = [p.data.copy() for p in model.parameters()]

    model, _, _, loop = build(accum)
    stopper = SaveAndStop(at)
    loop.add_callback(stopper)
    with pytest.raises(Interrupt):
        loop.fit(TRAIN, VAL, epochs=EPOCHS)
    saved = stopper.saved

    model, opt, sched, loop = build(accum)
    for p, arr in zip(model.parameters(), saved["params"]):
        np.copyto(p.data, arr)
    opt.load_state_dict(saved["optimizer"])
    sched.load_state_dict(saved["scheduler"])
    loop.load_state_dict(saved["loop"])
    resumed = loop.fit(TRAIN, VAL, epochs=EPOCHS).history
    for got, want in zip(model.parameters(), expected):
        np.testing.assert_array_equal(got.data, want)
    assert resumed == full            # the logs too: loss, metrics, lr, val_*


def test_state_saved_at_epoch_end_resumes_at_the_next_epoch():
    model, _, _, loop = build()
    states = []

    class Grab(Callback):
        def on_epoch_end(self, epoch, logs=None):
            states.append(copy.deepcopy(self.loop.state_dict()))

    loop.add_callback(Grab())
    loop.fit(TRAIN, epochs=2)
    assert states[0]["epoch"] == 1 and states[0]["batches_done"] == 0
    assert states[0]["epoch_state"] is None and states[0]["grads"] is None
    assert states[1]["history"]["epoch"] == [0, 1]  # a state saved in on_epoch_end has its epoch


def test_a_bad_state_changes_nothing():
    model, _, _, loop = build()
    loop.fit(TRAIN, epochs=1)
    good = loop.state_dict()
    before = copy.deepcopy(good)
    for broken in ({**good, "version": 99}, {**good, "epoch": -1},
                   {**good, "micro_step": 1, "grads": [np.zeros(3)]},
                   {**good, "history": "nope"}, {**good, "rng": {"numpy": {}}}):
        with pytest.raises(ValueError):
            loop.load_state_dict(broken)
        after = loop.state_dict()
        assert after["history"] == before["history"] and after["epoch"] == before["epoch"]
        assert after["rng"] == before["rng"]
    assert loop.resume_point() is None
