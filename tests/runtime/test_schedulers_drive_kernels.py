"""Schedulers write group["lr"], ["momentum"] and ["betas"]; the generated
kernels must use the new values on the very next step (checked against torch)."""

import numpy as np
import pytest

import odyssey_training as ot
from odyssey_training.optimizers import SGD, Adam
from odyssey_training.schedulers import CosineAnnealingLR, OneCycleLR

torch = pytest.importorskip("torch")


def trajectories(ours, theirs, sched, tsched, params, tensors, steps=40):
    rng = np.random.default_rng(11)
    for _ in range(steps):
        grads = [rng.standard_normal(p.data.shape) for p in params]
        for p, t, g in zip(params, tensors, grads):
            p.grad = g
            t.grad = torch.from_numpy(g.copy())
        ours.step()
        theirs.step()
        sched.step()
        tsched.step()
        for p, t in zip(params, tensors):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-10, atol=1e-12)


def setup(shapes=((5, 3), (7,))):
    rng = np.random.default_rng(2)
    init = [rng.standard_normal(s) for s in shapes]
    return [ot.Parameter(a.copy()) for a in init], [torch.tensor(a, requires_grad=True) for a in init]


def test_one_cycle_cycles_sgd_momentum_in_the_kernel():
    params, tensors = setup()
    ours = SGD(params, lr=0.1, momentum=0.9, nesterov=True)
    theirs = torch.optim.SGD(tensors, lr=0.1, momentum=0.9, nesterov=True, foreach=False)
    kw = dict(max_lr=0.5, total_steps=40, base_momentum=0.8, max_momentum=0.95)
    trajectories(ours, theirs, OneCycleLR(ours, **kw), torch.optim.lr_scheduler.OneCycleLR(theirs, **kw),
                 params, tensors)
    assert ours.param_groups[0]["momentum"] == pytest.approx(theirs.param_groups[0]["momentum"])


def test_one_cycle_cycles_adam_beta1_in_the_kernel():
    params, tensors = setup()
    ours = Adam(params, lr=0.01, amsgrad=True)
    theirs = torch.optim.Adam(tensors, lr=0.01, amsgrad=True, foreach=False)
    kw = dict(max_lr=0.05, total_steps=40, anneal_strategy="linear", three_phase=True)
    trajectories(ours, theirs, OneCycleLR(ours, **kw), torch.optim.lr_scheduler.OneCycleLR(theirs, **kw),
                 params, tensors)


def test_scheduler_on_a_user_spec_optimizer():
    AdaBelief = ot.load_spec("examples/adabelief.toml")
    w = ot.Parameter(np.array([1.0, -1.0]))
    opt = AdaBelief([w], lr=0.1)
    sched = CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
    w2 = ot.Parameter(np.array([1.0, -1.0]))
    manual = AdaBelief([w2], lr=0.1)
    for step in range(15):
        w.grad = 2 * w.data
        w2.grad = 2 * w2.data
        manual.set_lr(sched.lr_at(step)[0])
        opt.step()
        manual.step()
        sched.step()
        assert np.array_equal(w.data, w2.data)
    assert opt.get_lr() == pytest.approx(sched.lr_at(15)[0])


def test_scheduler_keys_survive_optimizer_state_dict():
    params, _ = setup()
    opt = SGD(params, lr=0.1, momentum=0.9)
    OneCycleLR(opt, max_lr=1.0, total_steps=10)
    sd = opt.state_dict()
    assert "initial_lr" in sd["param_groups"][0]
    fresh = SGD(params, lr=0.1, momentum=0.9)
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["initial_lr"] == sd["param_groups"][0]["initial_lr"]
    OneCycleLR(fresh, max_lr=1.0, total_steps=10, last_epoch=3)  # torch-style resume works
