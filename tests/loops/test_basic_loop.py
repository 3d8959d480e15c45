"""BasicTrainingLoop against a loop written out by hand: the same model, optimizer
and data must give the same parameters bit for bit and Keras-style logs."""

import numpy as np
import pytest

from odyssey_training.callbacks import Callback
from odyssey_training.loops import BasicTrainingLoop, ValidationLoop, evaluate
from odyssey_training.metrics import Accuracy, ConfusionMatrix, F1Score, LossTracker
from odyssey_training.optimizers import SGD, Adam
from odyssey_training.schedulers import ReduceLROnPlateau, StepLR

from .toy import TinyMLP, batches, blobs, softmax_xent

X, Y = blobs(96)
TRAIN = batches(X, Y, 16)
VAL = batches(*blobs(48, seed=7), 24)


def manual_epochs(model, opt, data, epochs, sched=None, step_sched=False):
    """The reference: forward, loss, backward, step, zero_grad; logs by hand."""
    losses = []
    for _ in range(epochs):
        total, count = 0.0, 0
        for x, y in data:
            out = model.forward(x, training=True)
            value, grad = softmax_xent(out, y)
            model.backward(grad)
            opt.step()
            opt.zero_grad()
            if step_sched:
                sched.step()
            total += value * len(y)
            count += len(y)
        if sched is not None and not step_sched:
            sched.step()
        losses.append(total / count)
    return losses


def params_of(model):
    return [p.data.copy() for p in model.parameters()]


def test_fit_equals_the_hand_written_loop():
    ref = TinyMLP()
    ref_opt = Adam(ref.parameters(), lr=0.05)
    ref_losses = manual_epochs(ref, ref_opt, TRAIN, 3, StepLR(ref_opt, 2, gamma=0.5))

    model = TinyMLP()
    opt = Adam(model.parameters(), lr=0.05)
    loop = BasicTrainingLoop(model, opt, loss=softmax_xent, scheduler=StepLR(opt, 2, gamma=0.5),
                             metrics={"acc": Accuracy(num_classes=3)})
    history = loop.fit(TRAIN, VAL, epochs=3)
    for a, b in zip(params_of(model), params_of(ref)):
        np.testing.assert_array_equal(a, b)
    assert history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "acc", "lr", "val_loss", "val_acc"}
    np.testing.assert_allclose(history.history["loss"], ref_losses, rtol=1e-12)
    assert history.history["lr"] == [0.05, 0.05, 0.025]      # the lr each epoch trained with
    assert loop.global_step == 3 * len(TRAIN)
    # val logs are evaluate() on the final weights
    final = evaluate(model, VAL, loss=softmax_xent, metrics={"acc": Accuracy(num_classes=3)})
    assert final == {"loss": history.history["val_loss"][-1], "acc": history.history["val_acc"][-1]}
    # training accuracy is the metric over the epoch's batches, as the model was then
    assert 0.0 <= history.history["acc"][0] <= 1.0


def test_validation_metrics_that_share_a_pass_are_right():
    """val_ metrics are copies of the training ones; an Accuracy fed by an F1Score's
    confusion pass must still count (numpy reference)."""
    model = TinyMLP()
    loop = BasicTrainingLoop(model, Adam(model.parameters(), lr=0.05), loss=softmax_xent,
                             metrics={"acc": Accuracy(num_classes=3),
                                      "f1": F1Score(num_classes=3, average="macro")})
    logs = loop.fit(TRAIN, VAL, epochs=2).history
    x = np.concatenate([b[0] for b in VAL])
    y = np.concatenate([b[1] for b in VAL])
    pred = model.forward(x, training=False).argmax(1)
    assert logs["val_acc"][-1] == np.mean(pred == y)
    f1 = [2 * np.sum((pred == c) & (y == c)) / (np.sum(pred == c) + np.sum(y == c))
          for c in range(3)]
    np.testing.assert_allclose(logs["val_f1"][-1], np.mean(f1), rtol=1e-12)


def test_validation_is_inference_mode_and_every_n_epochs():
    model = TinyMLP()
    loop = BasicTrainingLoop(model, SGD(model.parameters(), lr=0.1), loss=softmax_xent)
    history = loop.fit(TRAIN, VAL, epochs=4, validate_every=2)
    assert len(history.history["val_loss"]) == 2 and len(history.history["loss"]) == 4
    assert model.forward_calls[False] == 2 * len(VAL)
    assert model.forward_calls[True] == 4 * len(TRAIN)


def test_gradient_accumulation_equals_one_large_batch():
    a, b = TinyMLP(), TinyMLP()
    opt_a, opt_b = SGD(a.parameters(), lr=0.1, momentum=0.9), SGD(b.parameters(), lr=0.1, momentum=0.9)
    BasicTrainingLoop(a, opt_a, loss=softmax_xent, grad_accum_steps=3).fit(batches(X, Y, 8), epochs=2)
    BasicTrainingLoop(b, opt_b, loss=softmax_xent).fit(batches(X, Y, 24), epochs=2)
    for pa, pb in zip(params_of(a), params_of(b)):
        np.testing.assert_allclose(pa, pb, rtol=1e-12, atol=1e-14)


def test_clip_by_value_matches_numpy_clip():
    ref, model = TinyMLP(), TinyMLP()
    ref_opt, opt = SGD(ref.parameters(), lr=0.5), SGD(model.parameters(), lr=0.5)
    for x, y in TRAIN:
        _, grad = softmax_xent(ref.forward(x), y)
        ref.backward(grad)
        for p in ref.parameters():
            p.grad = np.clip(p.grad, -0.01, 0.01)
        ref_opt.step()
        ref_opt.zero_grad()
    BasicTrainingLoop(model, opt, loss=softmax_xent, clip_grad_value=0.01).fit(TRAIN, epochs=1)
    for a, b in zip(params_of(model), params_of(ref)):
        np.testing.assert_array_equal(a, b)


def test_clip_by_norm_uses_the_fused_path_and_torch_formula():
    ref, model = TinyMLP(), TinyMLP()
    ref_opt, opt = SGD(ref.parameters(), lr=0.5), SGD(model.parameters(), lr=0.5)
    for x, y in TRAIN:
        _, grad = softmax_xent(ref.forward(x), y)
        ref.backward(grad)
        norm = np.sqrt(sum(float(np.sum(p.grad ** 2)) for p in ref.parameters()))
        coef = min(1.0, 0.05 / (norm + 1e-6))       # torch.nn.utils.clip_grad_norm_
        for p in ref.parameters():
            p.grad = p.grad * coef
        ref_opt.step()
        ref_opt.zero_grad()
    loop = BasicTrainingLoop(model, opt, loss=softmax_xent, clip_grad_norm=0.05)
    assert all(g["max_grad_norm"] == 0.05 for g in opt.param_groups)
    loop.fit(TRAIN, epochs=1)
    assert opt.last_grad_norm is not None
    for a, b in zip(params_of(model), params_of(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="already clips"):
        BasicTrainingLoop(model, opt, loss=softmax_xent, clip_grad_norm=1.0)


def test_scheduler_per_step():
    ref, model = TinyMLP(), TinyMLP()
    ref_opt, opt = SGD(ref.parameters(), lr=0.2), SGD(model.parameters(), lr=0.2)
    manual_epochs(ref, ref_opt, TRAIN, 2, StepLR(ref_opt, 4, gamma=0.5), step_sched=True)
    loop = BasicTrainingLoop(model, opt, loss=softmax_xent, scheduler=StepLR(opt, 4, gamma=0.5),
                             scheduler_interval="step")
    history = loop.fit(TRAIN, epochs=2)
    for a, b in zip(params_of(model), params_of(ref)):
        np.testing.assert_array_equal(a, b)
    assert history.history["lr"] == [0.2 * 0.5 ** 1, 0.2 * 0.5 ** 2]   # after steps 5 and 11


def test_plateau_scheduler_is_fed_the_monitored_log():
    model = TinyMLP()
    opt = SGD(model.parameters(), lr=0.1)
    sched = ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.5)
    loop = BasicTrainingLoop(model, opt, loss=softmax_xent, scheduler=sched,
                             scheduler_monitor="loss")
    history = loop.fit(TRAIN, epochs=3)
    # mode="max" on a training loss that falls every epoch: epochs 2 and 3 are worse
    # than the best, and patience=0 cuts the lr after each of them
    assert np.all(np.diff(history.history["loss"]) < 0)
    assert opt.param_groups[0]["lr"] == 0.1 * 0.5 * 0.5
    assert history.history["lr"] == [0.1, 0.1, 0.05]
    with pytest.raises(ValueError, match="scheduler_interval='epoch'"):
        BasicTrainingLoop(model, opt, loss=softmax_xent, scheduler=sched, scheduler_interval="step")
    loop = BasicTrainingLoop(model, opt, loss=softmax_xent, scheduler=sched,
                             scheduler_monitor="nope")
    with pytest.raises(KeyError, match="not in the logs"):
        loop.fit(TRAIN, epochs=1)


def test_stop_training_ends_after_the_batch_and_the_epoch_still_ends():
    model = TinyMLP()
    events = []

    class StopAtBatch2(Callback):
        def on_train_batch_end(self, batch, logs=None):
            events.append(("batch", batch))
            if batch == 2:
                self.loop.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch, sorted(logs)))

    loop = BasicTrainingLoop(model, SGD(model.parameters(), lr=0.1), loss=softmax_xent,
                             callbacks=[StopAtBatch2()])
    history = loop.fit(TRAIN, VAL, epochs=5)
    assert events == [("batch", 0), ("batch", 1), ("batch", 2),
                      ("epoch_end", 0, ["loss", "lr", "val_loss"])]
    assert loop.global_step == 3 and history.epoch == [0]


def test_max_steps_counts_optimizer_steps_across_epochs():
    model = TinyMLP()
    loop = BasicTrainingLoop(model, SGD(model.parameters(), lr=0.1), loss=softmax_xent,
                             grad_accum_steps=2)
    history = loop.fit(TRAIN, epochs=10, max_steps=4)   # 3 steps per epoch of 6 batches
    assert loop.global_step == 4 and history.epoch == [0, 1]


def test_hooks_run_in_keras_order():
    calls = []

    class Recorder(Callback):
        pass

    for hook in ("on_train_begin", "on_epoch_begin", "on_train_batch_begin",
                 "on_train_batch_end", "on_validation_begin", "on_validation_batch_begin",
                 "on_validation_batch_end", "on_validation_end", "on_epoch_end", "on_train_end"):
        setattr(Recorder, hook, (lambda h: lambda self, *a: calls.append(h))(hook))
    model = TinyMLP()
    loop = BasicTrainingLoop(model, SGD(model.parameters(), lr=0.1), loss=softmax_xent)
    loop.add_callback(Recorder())
    loop.fit(TRAIN[:2], VAL[:1], epochs=1)
    assert calls == ["on_train_begin", "on_epoch_begin",
                     "on_train_batch_begin", "on_train_batch_end",
                     "on_train_batch_begin", "on_train_batch_end",
                     "on_validation_begin", "on_validation_batch_begin",
                     "on_validation_batch_end", "on_validation_end",
                     "on_epoch_end", "on_train_end"]


def test_metrics_as_list_get_default_names_and_arrays_stay_out_of_logs():
    model = TinyMLP()
    loop = ValidationLoop(model, SGD(model.parameters(), lr=0.1), loss=softmax_xent,
                          metrics=[Accuracy(num_classes=3), ConfusionMatrix(num_classes=3),
                                   LossTracker()])
    history = loop.fit(TRAIN, VAL, epochs=1)
    assert set(history.history) == {"loss", "lr", "accuracy", "loss_tracker", "val_loss",
                                    "val_accuracy", "val_loss_tracker"}
    assert loop.val_metrics["confusion_matrix"].compute().sum() == sum(len(y) for _, y in VAL)
    with pytest.raises(ValueError, match="needs val_data"):
        loop.fit(TRAIN, None)


@pytest.mark.parametrize("kwargs, error", [
    ({"grad_accum_steps": 0}, ValueError), ({"grad_accum_steps": 1.5}, ValueError),
    ({"clip_grad_norm": -1.0}, ValueError), ({"clip_grad_value": float("nan")}, ValueError),
    ({"scheduler_interval": "batch"}, ValueError), ({"metrics": {"loss": Accuracy(3)}}, ValueError),
    ({"metrics": {"val_acc": Accuracy(3)}}, ValueError), ({"loss": 3}, TypeError),
])
def test_bad_arguments(kwargs, error):
    model = TinyMLP()
    with pytest.raises(error):
        BasicTrainingLoop(model, SGD(model.parameters(), lr=0.1), **{"loss": softmax_xent, **kwargs})


def test_bad_model_and_fit_arguments():
    with pytest.raises(TypeError, match="backward"):
        BasicTrainingLoop(object(), SGD(lr=0.1), loss=softmax_xent)
    model = TinyMLP()
    loop = BasicTrainingLoop(model, SGD(model.parameters(), lr=0.1), loss=softmax_xent)
    for kwargs in ({"epochs": -1}, {"validate_every": 0}, {"max_steps": -2}):
        with pytest.raises(ValueError):
            loop.fit(TRAIN, **kwargs)


def test_custom_loop_style_stays_first_class():
    """The original library's custom loop: opt.step(model.parameters(), grads)."""
    ref, model = TinyMLP(), TinyMLP()
    ref_opt = SGD(ref.parameters(), lr=0.1, momentum=0.9)
    opt = SGD(lr=0.1, momentum=0.9)
    for x, y in TRAIN:
        _, grad = softmax_xent(ref.forward(x), y)
        ref.backward(grad)
        ref_opt.step()
        ref_opt.zero_grad()
        _, grad = softmax_xent(model.forward(x), y)
        model.backward(grad)
        params = model.parameters()
        opt.step(params, [p.grad for p in params])
        for p in params:
            p.grad = None
    for a, b in zip(params_of(model), params_of(ref)):
        np.testing.assert_array_equal(a, b)


def test_an_exception_reaches_on_exception_not_on_train_end():
    seen = []

    class Boom(Exception):
        pass

    class Watch(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                raise Boom

        def on_exception(self, exception):
            seen.append(type(exception))

        def on_train_end(self, logs=None):
            seen.append("end")

    model = TinyMLP()
    loop = BasicTrainingLoop(model, SGD(model.parameters(), lr=0.1), loss=softmax_xent,
                             callbacks=[Watch()])
    with pytest.raises(Boom):
        loop.fit(TRAIN, epochs=2)
    assert seen == [Boom]
