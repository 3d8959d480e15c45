"""EMAWeights: the averages against NumPy math written out by hand, the swap for
validation, the copy at the end, and an exact resume."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from odyssey_training.callbacks import EMAWeights, LambdaCallback
from odyssey_training.elementwise import ElementwiseKernel
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.optimizers import SGD

from ..loops.toy import TinyMLP, batches, blobs, softmax_xent
from .fake import attach


def timm_decay(step, decay, after=0, warmup=False, gamma=1.0, power=2 / 3, min_decay=0.0):
    """timm ModelEmaV3.get_decay, written out."""
    s = max(0, step - after - 1)
    if s <= 0:
        return 0.0
    if warmup:
        return max(min(1 - (1 + s / gamma) ** -power, decay), min_decay)
    return decay


def test_decay_schedule_is_timms():
    plain = EMAWeights(0.99)
    assert [plain.decay_at(t) for t in (1, 2, 3)] == [0.0, 0.99, 0.99]
    late = EMAWeights(0.99, update_after_step=3)
    assert [late.decay_at(t) for t in range(1, 7)] == [0, 0, 0, 0, 0.99, 0.99]
    warm = EMAWeights(0.9, use_warmup=True, warmup_gamma=2.0, warmup_power=0.75,
                      min_decay=0.2)
    for t in range(1, 200):
        assert warm.decay_at(t) == timm_decay(t, 0.9, warmup=True, gamma=2.0, power=0.75,
                                              min_decay=0.2)
    assert warm.decay_at(2) == 1 - 1.5 ** -0.75       # s = 1: 0.262, above min_decay
    assert EMAWeights(0.9, use_warmup=True, min_decay=0.5).decay_at(2) == 0.5   # 1-2**-2/3=.37
    assert warm.decay_at(10 ** 6) == 0.9


class Recorder:
    """A LambdaCallback recording the parameters after every optimizer step."""

    def __init__(self):
        self.after_step = []
        self.seen = 0

    def callback(self, loop_ref):
        def on_batch_end(batch, logs):
            loop = loop_ref[0]
            if loop.global_step != self.seen:
                self.seen = loop.global_step
                self.after_step.append([p.data.copy() for p in loop.model.parameters()])
        return LambdaCallback(on_train_batch_end=on_batch_end)


def fit_with_ema(ema, epochs=3, accum=1, dtype=np.float64, val=False, extra=()):
    x, y = blobs(48, dtype=dtype)
    model = TinyMLP(seed=7, dtype=dtype)
    ref, rec = [None], Recorder()
    loop = BasicTrainingLoop(model, SGD(model.parameters(), lr=0.2, momentum=0.5),
                             loss=softmax_xent, grad_accum_steps=accum,
                             callbacks=[ema, rec.callback(ref), *extra])
    ref[0] = loop
    history = loop.fit(batches(x, y, 8), val_data=batches(x, y, 16) if val else None,
                       epochs=epochs)
    return loop, rec.after_step, history


def reference_averages(snapshots, decay_of_step, initial, every=1):
    """avg_0 = the initial parameters; after step t (every ``every``-th):
    avg <- d_t * avg + (1 - d_t) * theta_t."""
    avg = [a.copy() for a in initial]
    for t, params in enumerate(snapshots, start=1):
        if t % every:
            continue
        d = decay_of_step(t)
        avg = [d * a + (1 - d) * p for a, p in zip(avg, params)]
    return avg


@pytest.mark.parametrize("options, accum", [
    ({"decay": 0.9}, 1),
    ({"decay": 0.8}, 2),                                       # a step every 2nd batch
    ({"decay": 0.95, "use_warmup": True, "update_after_step": 2}, 1),
    ({"decay": 0.9, "update_every": 4}, 1),
])
def test_averages_equal_the_numpy_recurrence(options, accum):
    initial = [p.data.copy() for p in TinyMLP(seed=7).parameters()]
    ema = EMAWeights(apply_at_end=False, **options)
    loop, snapshots, _ = fit_with_ema(ema, accum=accum)
    assert len(snapshots) == loop.global_step == 18 // accum
    expected = reference_averages(snapshots, ema.decay_at, initial,
                                  every=options.get("update_every", 1))
    for got, want in zip(ema.averages, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert isinstance(ema._kernel, ElementwiseKernel)          # the generated kernel ran
    final = [p.data for p in loop.model.parameters()]
    assert not all(np.array_equal(a, p) for a, p in zip(ema.averages, final))


def test_float32_parameters():
    initial = [p.data.copy() for p in TinyMLP(seed=7, dtype=np.float32).parameters()]
    ema = EMAWeights(0.9, apply_at_end=False)
    _, snapshots, _ = fit_with_ema(ema, dtype=np.float32)
    expected = reference_averages([[s.astype(np.float64) for s in snap] for snap in snapshots],
                                  ema.decay_at, [a.astype(np.float64) for a in initial])
    for got, want in zip(ema.averages, expected):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def test_validation_measures_the_averages_and_the_training_weights_come_back():
    seen = []
    ema = EMAWeights(0.9, apply_at_end=False)

    def during_validation(batch, logs):
        params = [p.data for p in ema.loop.model.parameters()]
        seen.append((all(np.array_equal(p, a) for p, a in zip(params, ema.averages)),
                     [id(p) for p in params]))

    check = LambdaCallback(on_validation_batch_begin=during_validation)
    loop, snapshots, history = fit_with_ema(ema, val=True, extra=[check])
    ids = [id(p.data) for p in loop.model.parameters()]
    assert seen == [(True, ids)] * 9                  # 3 epochs of 3 validation batches
    # after fit (apply_at_end=False) the model holds the training weights of the last step
    for p, last in zip(loop.model.parameters(), snapshots[-1]):
        np.testing.assert_array_equal(p.data, last)
    # the last val_loss is the loss of the averaged weights, computed by hand
    x, y = blobs(48)
    twin = TinyMLP(seed=7)
    for p, a in zip(twin.parameters(), ema.averages):
        np.copyto(p.data, a)
    val = batches(x, y, 16)
    want = sum(softmax_xent(twin.forward(bx, training=False), by)[0] * len(by)
               for bx, by in val) / 48
    assert history.history["val_loss"][-1] == pytest.approx(want, rel=1e-14)


def test_the_swap_keeps_the_arrays_identity():
    ema = EMAWeights(0.5, apply_at_end=False)
    model = TinyMLP()
    cb, loop = attach(ema, model=model)
    arrays = [p.data for p in model.parameters()]
    before = [a.copy() for a in arrays]
    cb.on_train_begin(None)
    for a in ema.averages:
        a += 1.0
    cb.on_validation_begin(None)
    assert all(p.data is a for p, a in zip(model.parameters(), arrays))
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b + 1.0)
    cb.on_validation_end({"val_loss": 0.0})
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b)
    with ema.swapped():
        np.testing.assert_array_equal(arrays[0], before[0] + 1.0)
        with pytest.raises(RuntimeError):
            ema.apply()
    np.testing.assert_array_equal(arrays[0], before[0])


def test_apply_at_end_leaves_the_averages_in_the_model():
    ema = EMAWeights(0.9)
    loop, _, _ = fit_with_ema(ema, epochs=1)
    for p, a in zip(loop.model.parameters(), ema.averages):
        np.testing.assert_array_equal(p.data, a)


class Crash(Exception):
    pass


def test_a_resumed_run_continues_the_average_exactly():
    x, y = blobs(48)
    data = batches(x, y, 8)

    def build(extra=()):
        model = TinyMLP(seed=7)
        opt = SGD(model.parameters(), lr=0.2, momentum=0.5)
        ema = EMAWeights(0.9, use_warmup=True)
        loop = BasicTrainingLoop(model, opt, loss=softmax_xent, callbacks=[ema, *extra])
        return loop, model, opt, ema

    straight, model_a, _, ema_a = build()
    straight.fit(data, epochs=4)

    saved = {}

    def save(batch, logs):
        if interrupted.global_step == 9:           # mid-epoch 1
            saved["loop"] = copy.deepcopy(interrupted.state_dict())
            saved["params"] = [p.data.copy() for p in model_b.parameters()]
            saved["opt"] = copy.deepcopy(opt_b.state_dict())
        if interrupted.global_step == 14:
            raise Crash

    interrupted, model_b, opt_b, _ = build([LambdaCallback(on_train_batch_end=save)])
    with pytest.raises(Crash):
        interrupted.fit(data, epochs=4)
    assert isinstance(saved["loop"]["callbacks"]["EMAWeights"]["averages"][0], np.ndarray)

    resumed, model_c, opt_c, ema_c = build()
    for p, v in zip(model_c.parameters(), saved["params"]):
        np.copyto(p.data, v)
    opt_c.load_state_dict(saved["opt"])
    resumed.load_state_dict(saved["loop"])
    resumed.fit(data, epochs=4)
    for a, c in zip(ema_a.averages, ema_c.averages):
        np.testing.assert_array_equal(a, c)
    for a, c in zip(model_a.parameters(), model_c.parameters()):
        np.testing.assert_array_equal(a.data, c.data)


def test_state_is_checked():
    model = TinyMLP()
    ema, _ = attach(EMAWeights(), model=model)
    with pytest.raises(ValueError, match="averages"):
        ema.load_state_dict({})
    with pytest.raises(ValueError, match="4 parameters"):
        ema.load_state_dict({"averages": [np.zeros(3)]})
    bad = [p.data.astype(np.float32) for p in model.parameters()]
    with pytest.raises(ValueError, match="average 0"):
        ema.load_state_dict({"averages": bad})
    assert ema.averages is None
    ema.load_state_dict({"averages": [p.data + 1 for p in model.parameters()]})
    np.testing.assert_array_equal(ema.averages[1], model.b1.data + 1)
    unattached = EMAWeights()                         # checked when training begins
    unattached.load_state_dict({"averages": [np.zeros(3)]})
    unattached.set_loop(ema.loop)
    with pytest.raises(ValueError, match="1 averages"):
        unattached.on_train_begin(None)


@pytest.mark.parametrize("kwargs", [{"decay": 1.5}, {"decay": -0.1}, {"decay": "0.9"},
                                    {"min_decay": 0.95, "decay": 0.9},
                                    {"update_every": 0}, {"update_after_step": -1},
                                    {"warmup_gamma": 0.0}, {"warmup_power": -1.0},
                                    {"use_warmup": 1}])
def test_bad_arguments(kwargs):
    with pytest.raises((ValueError, TypeError)):
        EMAWeights(**kwargs)
