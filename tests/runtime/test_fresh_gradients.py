"""A training loop hands the optimizer new gradient arrays every step.

The pointer table of a group is built once; later steps only re-point it at
the new gradients (after checking them), so results must equal those of a run
that feeds the very same array objects every step, bad new gradients must be
rejected before anything is written, and a replaced parameter array must be
noticed."""

import numpy as np
import pytest

import odyssey_training as ot
from odyssey_training.optimizers import SGD, AdamW
from odyssey_training.threads import CHUNK

from .memory import bytes_kept

SHAPES = [(2 * CHUNK + 100,), (3, 5), (), (0,), (CHUNK // 2 + 7,)]


def grads_for(step: int, dtype=np.float32) -> list[np.ndarray]:
    rng = np.random.default_rng(100 + step)
    return [np.asarray(rng.standard_normal(s), dtype=dtype) for s in SHAPES]


def make(cls, threads: int, **kw):
    rng = np.random.default_rng(1)
    params = [ot.Parameter(np.asarray(rng.standard_normal(s), dtype=np.float32)) for s in SHAPES]
    return params, cls(params, num_threads=threads, **kw)


def plans(opt):
    return list(opt._plans.values())


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("cls, kw", [(AdamW, {"lr": 0.01}), (SGD, {"lr": 0.1, "momentum": 0.9}),
                                     (AdamW, {"lr": 0.01, "max_grad_norm": 5.0})])
def test_new_gradient_arrays_reuse_the_plan(threads, cls, kw):
    fresh_params, fresh = make(cls, threads, **kw)
    same_params, same = make(cls, threads, **kw)
    held = [np.zeros(s, np.float32) for s in SHAPES]       # one set of arrays, refilled
    for p, g in zip(same_params, held):
        p.grad = g
    built = None
    for step in range(6):
        new = grads_for(step)
        for p, g in zip(fresh_params, new):
            p.grad = g
        for h, g in zip(held, new):
            h[...] = g
        fresh.step()
        same.step()
        if built is None:
            built = plans(fresh)
        assert plans(fresh) == built and all(a is b for a, b in zip(plans(fresh), built))
        for a, b in zip(fresh_params, same_params):
            assert np.array_equal(a.data, b.data)
        assert fresh.last_grad_norm == same.last_grad_norm
    if "max_grad_norm" in kw:
        want = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads_for(5)))
        assert fresh.last_grad_norm == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("bad", ["shape", "dtype", "strided", "fortran", "list", "readonly_param"])
def test_a_bad_new_gradient_is_rejected_before_any_write(bad):
    params, opt = make(AdamW, 1, lr=0.01)
    for step in range(2):
        for p, g in zip(params, grads_for(step)):
            p.grad = g
        opt.step()
    before = [p.data.copy() for p in params]
    state = {k: v.copy() for k, v in opt.state[params[1]].items() if k != "step"}
    new = grads_for(2)
    if bad == "shape":
        new[1] = new[1].reshape(5, 3)
    elif bad == "dtype":
        new[1] = new[1].astype(np.float64)
    elif bad == "strided":
        new[0] = np.zeros(2 * new[0].size, np.float32)[::2]
    elif bad == "fortran":
        new[1] = np.asfortranarray(new[1])
    elif bad == "list":
        new[1] = new[1].tolist()
    for p, g in zip(params, new):
        p.grad = g
    if bad == "readonly_param":
        params[4].data.flags.writeable = False
    with pytest.raises((ValueError, TypeError)):
        opt.step()
    for p, b in zip(params, before):
        assert np.array_equal(p.data, b)
    for k, v in state.items():
        assert np.array_equal(opt.state[params[1]][k], v)
    assert opt.state[params[1]]["step"] == 2


def test_a_replaced_parameter_array_is_updated():
    params, opt = make(SGD, 1, lr=0.5)
    for p, g in zip(params, grads_for(0)):
        p.grad = g
    opt.step()
    params[1].data = np.ones((3, 5), np.float32)
    for p, g in zip(params, grads_for(1)):
        p.grad = g
    opt.step()
    np.testing.assert_allclose(params[1].data, 1 - 0.5 * grads_for(1)[1], rtol=1e-6)


def test_a_skipped_parameter_comes_back():
    params, opt = make(AdamW, 1, lr=0.01)
    ref_params, ref = make(AdamW, 1, lr=0.01)
    for step in range(4):
        new = grads_for(step)
        if step == 1:
            new[1] = None               # no gradient this step: skipped, state untouched
        for ps in (params, ref_params):
            for p, g in zip(ps, new):
                p.grad = None if g is None else g.copy()
        opt.step()
        # the reference rebuilds everything every step: a new optimizer from its state
        sd = ref.state_dict()
        ref = AdamW(ref_params, lr=0.01, num_threads=1)
        ref.load_state_dict(sd)
        ref.step()
    assert opt.state[params[1]]["step"] == 3 and opt.state[params[0]]["step"] == 4
    for a, b in zip(params, ref_params):
        assert np.array_equal(a.data, b.data)


def test_no_memory_growth_with_new_gradients_every_step():
    params, opt = make(AdamW, 1, lr=0.01, max_grad_norm=1.0)
    pool = [grads_for(k) for k in range(3)]        # new arrays each step, none allocated
    for k in range(6):
        for p, g in zip(params, pool[k % 3]):
            p.grad = g
        opt.step()

    def step(k: int) -> None:
        for p, g in zip(params, pool[k % 3]):
            p.grad = g
        opt.step()
    growth = bytes_kept(step)
    assert growth < 4096, f"{growth} bytes allocated and kept over 100 steps"


@pytest.mark.parametrize("threads", [1, 2])
def test_a_new_lr_every_step_keeps_the_plan_and_is_applied(threads):
    """A scheduler writes a new lr each step: the plans stay, each step uses its lr
    (SGD with momentum, torch's form: b = mu*b + g, p -= lr*b)."""
    params, opt = make(SGD, threads, lr=0.1, momentum=0.9)
    want = [p.data.astype(np.float64) for p in params]
    bufs = [None] * len(SHAPES)
    built = None
    for step in range(5):
        lr = 0.1 / (1 + step)
        opt.param_groups[0]["lr"] = lr
        new = grads_for(step)
        for p, g in zip(params, new):
            p.grad = g
        opt.step()
        if built is None:
            built = plans(opt)
        assert all(a is b for a, b in zip(plans(opt), built)) and len(plans(opt)) == len(built)
        for i, g in enumerate(new):
            g = g.astype(np.float64)
            bufs[i] = g if bufs[i] is None else 0.9 * bufs[i] + g
            want[i] = want[i] - lr * bufs[i]
    for p, w in zip(params, want):
        np.testing.assert_allclose(p.data, w, rtol=1e-5, atol=1e-6)
