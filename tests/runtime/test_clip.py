"""Global-norm clipping: the standalone clip_grad_norm_ and the fused
max_grad_norm of every optimizer, against torch."""

import math

import numpy as np
import pytest

import odyssey_training as ot
from odyssey_training.optimizers import SGD, AdamW, Adam

torch = pytest.importorskip("torch")


def shapes():
    return [(7, 5), (300,), (), (70000,), (0,)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(dtype, max_norm):
    rng = np.random.default_rng(0)
    grads = [np.asarray(rng.standard_normal(s), dtype=dtype) for s in shapes()]
    tensors = [torch.zeros(g.shape, dtype=torch.float64 if dtype == np.float64 else torch.float32,
                           requires_grad=True) for g in grads]
    for t, g in zip(tensors, grads):
        t.grad = torch.from_numpy(g.copy())
    expected = float(torch.nn.utils.clip_grad_norm_(tensors, max_norm))
    params = [ot.Parameter(np.zeros_like(g), grad=g) for g in grads]
    got = ot.clip_grad_norm_(params, max_norm)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert math.isclose(got, expected, rel_tol=rtol)
    for p, t in zip(params, tensors):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=rtol, atol=1e-30)


def test_clip_grad_norm_inf_norm():
    g = np.array([1.0, -4.0, 2.0])
    assert ot.clip_grad_norm_([g], 2.0, norm_type=math.inf) == 4.0
    np.testing.assert_allclose(g, np.array([1.0, -4.0, 2.0]) * 2.0 / (4.0 + 1e-6))


@pytest.mark.parametrize("cls, tcls, kw", [
    (AdamW, torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.1}),
    (SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    (Adam, torch.optim.Adam, {"lr": 0.01, "amsgrad": True}),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_clipping_matches_torch_clip_then_step(cls, tcls, kw, dtype):
    rng = np.random.default_rng(5)
    init = [np.asarray(rng.standard_normal(s), dtype=dtype) for s in [(13, 4), (1000,), ()]]
    params = [ot.Parameter(a.copy()) for a in init]
    tensors = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = cls(params, max_grad_norm=1.0, **kw)
    topt = tcls(tensors, foreach=False, **kw)
    for step in range(20):
        grads = [np.asarray(rng.standard_normal(a.shape) * (3 if step % 2 else 0.1), dtype=dtype)
                 for a in init]
        for p, t, g in zip(params, tensors, grads):
            p.grad = g
            t.grad = torch.from_numpy(g.copy())
        expected_norm = float(torch.nn.utils.clip_grad_norm_(tensors, 1.0))
        topt.step()
        opt.step()
        rtol = 2e-5 if dtype == np.float32 else 1e-11
        assert math.isclose(opt.last_grad_norm, expected_norm, rel_tol=rtol)
        for p, t in zip(params, tensors):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=rtol * 10, atol=rtol)
        # the caller's gradients are not rewritten by fused clipping
        assert all(np.array_equal(p.grad, g) for p, g in zip(params, grads))


def test_non_finite_norm_skips_the_step_and_reports_it():
    w = ot.Parameter(np.ones(4))
    opt = AdamW([w], lr=0.1, max_grad_norm=1.0)
    w.grad = np.array([1.0, np.inf, 0.0, 0.0])
    opt.step()
    assert math.isinf(opt.last_grad_norm) and opt.skipped_steps == 1
    assert np.array_equal(w.data, np.ones(4)) and opt.state_dict()["state"] == {}
    w.grad = np.full(4, 0.5)
    opt.step()
    assert opt.last_grad_norm == 1.0 and opt.skipped_steps == 1
    assert np.all(w.data < 1.0)


def test_max_grad_norm_is_validated():
    with pytest.raises(ValueError, match="max_grad_norm"):
        AdamW(lr=0.1, max_grad_norm=-1.0)
    with pytest.raises(ValueError, match="max_norm"):
        ot.clip_grad_norm_([np.ones(2)], 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_norm_covers_every_row_path(dtype):
    from hypothesis import given, strategies as st

    from odyssey_training.clip import group_grad_norm

    @given(sizes=st.lists(st.integers(0, 300), min_size=1, max_size=4), seed=st.integers(0, 99))
    def check(sizes, seed):
        rng = np.random.default_rng(seed)
        grads = [rng.standard_normal(n).astype(dtype) for n in sizes]
        expected = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads))
        assert math.isclose(group_grad_norm(grads), expected, rel_tol=1e-12, abs_tol=1e-300)

    check()
