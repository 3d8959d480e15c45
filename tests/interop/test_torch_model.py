"""TorchModel: an nn.Module behind the loops' Model protocol -- zero-copy
parameters named as torch names them, forward in train/eval mode, backward
through autograd, a torch loss, buffers -- and a BasicTrainingLoop over it
matching a hand-written torch training loop."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from .helpers import Data, assert_params_close, mlp, torch

from odyssey_training.interop import torch as ot_torch  # noqa: E402
from odyssey_training.interop.torch import TorchModel  # noqa: E402
from odyssey_training.loops import BasicTrainingLoop  # noqa: E402
from odyssey_training.metrics import Accuracy  # noqa: E402
from odyssey_training.optimizers import AdamW  # noqa: E402

nn = torch.nn


def _net(seed=0):
    torch.manual_seed(seed)
    # no bias before the BatchNorm: its gradient would be rounding noise, which Adam
    # normalises into full-size steps
    return nn.Sequential(nn.Linear(6, 12, bias=False), nn.BatchNorm1d(12), nn.ReLU(),
                         nn.Dropout(0.3), nn.Linear(12, 3))


def test_parameters_are_named_zero_copy_views():
    net = _net()
    model = TorchModel(net)
    params = model.parameters()
    assert [p.name for p in params] == [n for n, _ in net.named_parameters()]
    for p, (_, t) in zip(params, net.named_parameters()):
        assert p.data.ctypes.data == t.data_ptr() and p.data.shape == tuple(t.shape)
        assert p.grad is None
    params[0].data[0, 0] = 42.0
    assert net[0].weight[0, 0].item() == 42.0


def test_forward_honours_train_and_eval_mode():
    net = _net(1)
    twin = copy.deepcopy(net)
    model = TorchModel(net)
    x = np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32)
    torch.manual_seed(5)
    out = model.forward(x, training=True)
    assert net.training and isinstance(out, np.ndarray)
    torch.manual_seed(5)
    np.testing.assert_array_equal(out, twin.train()(torch.from_numpy(x)).detach().numpy())
    out = model.forward(x, training=False)
    assert not net.training
    with torch.no_grad():
        np.testing.assert_array_equal(out, twin.eval()(torch.from_numpy(x)).numpy())
    np.testing.assert_array_equal(model.buffers()["1.running_mean"],
                                  twin[1].running_mean.numpy())
    with pytest.raises(RuntimeError, match="forward"):
        model.backward(np.ones_like(out))          # no graph after an eval forward


def test_backward_accumulates_as_autograd():
    net = mlp(2)
    twin = copy.deepcopy(net)
    model = TorchModel(net)
    data = Data(2)
    for step in range(2):                          # two batches accumulate
        x, y = data[step]
        out = model.forward(x.numpy(), training=True)
        logits = torch.from_numpy(out).requires_grad_()
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss.backward()
        model.backward(logits.grad.numpy())
        torch.nn.functional.cross_entropy(twin(x), y).backward()
    for p, t in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-6, atol=1e-7)
        assert p.grad.ctypes.data == p.tensor.grad.data_ptr()      # a view of .grad
    model.parameters()[0].zero_grad(set_to_none=False)
    assert not net[0].weight.grad.any()
    model.parameters()[0].zero_grad()
    assert net[0].weight.grad is None


def test_a_torch_loss_as_the_loops_loss():
    model = TorchModel(mlp(3), loss_fn=nn.CrossEntropyLoss(label_smoothing=0.1))
    x, y = Data(3)[0]
    out = model.forward(x.numpy())
    value, grad = model.loss(out, y.numpy())
    logits = torch.from_numpy(out.copy()).requires_grad_()
    want = nn.functional.cross_entropy(logits, y, label_smoothing=0.1)
    want.backward()
    assert value == pytest.approx(want.item(), rel=1e-6)
    np.testing.assert_allclose(grad, logits.grad.numpy(), rtol=1e-6)
    with pytest.raises(TypeError, match="loss_fn"):
        TorchModel(mlp(3)).loss(out, y.numpy())


def test_bad_modules_are_rejected_naming_the_parameter():
    with pytest.raises(TypeError, match="nn.Module"):
        TorchModel(lambda x: x)
    with pytest.raises(TypeError, match=r"parameter '2\.weight'.*unsupported dtype"):
        net = mlp(0)
        net[2].half()
        TorchModel(net)


def test_a_compiled_module_keeps_its_names():
    net = mlp(4)
    model = TorchModel(torch.compile(net, backend="eager"))
    assert [p.name for p in model.parameters()] == [n for n, _ in net.named_parameters()]


class _Batches:
    """(inputs, targets) ndarray batches of one epoch, in a fixed order."""

    def __init__(self, data, count):
        self.data, self.count = data, count

    def __iter__(self):
        for step in range(self.count):
            x, y = self.data[step]
            yield x.numpy(), y.numpy()

    def __len__(self):
        return self.count


@pytest.mark.parametrize("optimizer", ["numpy-api", "torch-api"])
def test_the_loop_trains_a_torch_model_as_a_torch_loop_does(optimizer):
    net = _net(6)
    twin = copy.deepcopy(net)
    data = Data(6)
    model = TorchModel(net, loss_fn=nn.CrossEntropyLoss())
    opt = (AdamW(model.parameters(), lr=3e-3) if optimizer == "numpy-api"
           else ot_torch.AdamW(net.parameters(), lr=3e-3))
    loop = BasicTrainingLoop(model, opt, loss=model.loss, metrics={"acc": Accuracy(num_classes=3)})
    torch.manual_seed(0)
    history = loop.fit(_Batches(data, 8), val_data=_Batches(data, 2), epochs=3)

    reference = torch.optim.AdamW(twin.parameters(), lr=3e-3, foreach=False)
    torch.manual_seed(0)
    for _ in range(3):
        twin.train()
        for step in range(8):
            x, y = data[step]
            reference.zero_grad()
            nn.functional.cross_entropy(twin(x), y).backward()
            reference.step()
    assert_params_close(zip(net.parameters(), twin.parameters()), 2e-5, 2e-6)
    for name, buffer in model.buffers().items():
        np.testing.assert_allclose(buffer, twin.state_dict()[name].numpy(), rtol=2e-5,
                                   atol=2e-6)
    twin.eval()
    with torch.no_grad():
        x, y = data.x[:64], data.y[:64]
        accuracy = float((twin(x).argmax(1) == y).float().mean())
    assert history.history["val_acc"][-1] == pytest.approx(accuracy, abs=1e-9)
    assert len(history.history["loss"]) == 3 and not net.training
