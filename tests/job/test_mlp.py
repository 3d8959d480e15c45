"""The main job's reference MLP against torch autograd (forward, backward,
accumulation) and its init, naming and errors."""

import numpy as np
import pytest

from odyssey_training.job.mlp import MLP

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.nokernel


def torch_twin(model: MLP):
    """The same network as torch.nn.Sequential(Linear, ReLU, ..., Linear), same weights."""
    layers = []
    for w, b in zip(model.weights, model.biases):
        lin = torch.nn.Linear(w.data.shape[1], w.data.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.data))
            lin.bias.copy_(torch.from_numpy(b.data))
        layers += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def torch_grads(net):
    return [t for lin in net if isinstance(lin, torch.nn.Linear)
            for t in (lin.weight.grad.numpy(), lin.bias.grad.numpy())]


@pytest.mark.parametrize("sizes", [[64, 10], [64, 32, 10], [8, 16, 16, 16, 3]])
def test_forward_backward_equal_torch_autograd(sizes):
    rng = np.random.default_rng(len(sizes))
    model = MLP(sizes, seed=3)
    net = torch_twin(model)
    x = rng.standard_normal((17, sizes[0])).astype(np.float32)
    upstream = rng.standard_normal((17, sizes[-1])).astype(np.float32)

    out = model.forward(x, training=True)
    model.backward(upstream)
    tx = torch.from_numpy(x)
    tout = net(tx)
    tout.backward(torch.from_numpy(upstream))

    assert out.dtype == np.float32 and out.shape == (17, sizes[-1])
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-5, atol=1e-5)
    for p, ref in zip(model.parameters(), torch_grads(net)):
        assert p.grad.dtype == np.float32 and p.grad.shape == p.data.shape
        np.testing.assert_allclose(p.grad, ref, rtol=1e-4, atol=1e-5, err_msg=p.name)


def test_gradients_accumulate_like_torch():
    rng = np.random.default_rng(0)
    model = MLP([6, 12, 4], seed=1)
    net = torch_twin(model)
    for _ in range(3):
        x = rng.standard_normal((5, 6)).astype(np.float32)
        g = rng.standard_normal((5, 4)).astype(np.float32)
        model.forward(x)
        model.backward(g)
        net(torch.from_numpy(x)).backward(torch.from_numpy(g))
    for p, ref in zip(model.parameters(), torch_grads(net)):
        np.testing.assert_allclose(p.grad, ref, rtol=1e-4, atol=1e-5, err_msg=p.name)


def test_zeroed_gradients_reuse_the_models_buffers():
    """After zero_grad (grads -> None) a new backward writes, it does not add."""
    rng = np.random.default_rng(2)
    model = MLP([4, 8, 3], seed=0)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    g = rng.standard_normal((6, 3)).astype(np.float32)
    model.forward(x)
    model.backward(g)
    first = [p.grad.copy() for p in model.parameters()]
    buffers = [p.grad for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    model.forward(x)
    model.backward(g)
    for p, want, buf in zip(model.parameters(), first, buffers):
        assert p.grad is buf
        np.testing.assert_array_equal(p.grad, want)


def test_he_init_is_seeded_and_scaled():
    a, b, c = MLP([64, 512, 10], seed=5), MLP([64, 512, 10], seed=5), MLP([64, 512, 10], seed=6)
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)
    assert not np.array_equal(a.weights[0].data, c.weights[0].data)
    w1, w2 = a.weights[0].data, a.weights[1].data
    assert w1.shape == (512, 64) and w2.shape == (10, 512)
    assert abs(w1.std() - np.sqrt(2 / 64)) < 0.01 and abs(w2.std() - np.sqrt(2 / 512)) < 0.01
    assert not a.biases[0].data.any()
    assert [p.name for p in a.parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight",
                                                "fc2.bias"]
    assert all(p.data.dtype == np.float32 for p in a.parameters())


def test_inference_forward_keeps_no_activations():
    model = MLP([3, 4, 2])
    model.forward(np.ones((2, 3), np.float32), training=False)
    with pytest.raises(RuntimeError, match="forward"):
        model.backward(np.ones((2, 2), np.float32))


@pytest.mark.parametrize("sizes", [[10], [10, 0, 3], [10, 2.5, 3], [True, 3]])
def test_bad_sizes(sizes):
    with pytest.raises(ValueError, match="sizes"):
        MLP(sizes)


def test_bad_shapes():
    model = MLP([3, 4, 2])
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        model.forward(np.ones((2, 5), np.float32))
    model.forward(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        model.backward(np.ones((2, 3), np.float32))
