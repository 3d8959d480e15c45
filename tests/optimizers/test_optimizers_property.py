"""Property tests: every optimizer against the NumPy references (reference.py).

One table, SPECS_UNDER_TEST, drives the Hypothesis checks: for each optimizer
and each flag/hyper case, random hyperparameters within the constraints,
float32 and float64, several tensors per group with sizes around SIMD widths
(0, 1, W-1, W, W+1 for W in 4, 8, 16, a few thousand) and 0-d/2-d shapes,
both calling styles, one or two param groups with their own lr, an lr change
mid-run; 50 steps, then parameters and state_dict buffers are compared with
the reference at per-dtype tolerances (reference.TOLERANCES).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import odyssey_training as ot
from odyssey_training.optimizers import SGD, Adagrad, Adam, AdamW, Lion, Optimizer, RMSprop

from .reference import (
    buffer_slack,
    CASES,
    DEFAULTS,
    SMALL_SIZES,
    GradSource,
    RefOptimizer,
    ScaleTracker,
    assert_close,
    case_id,
    draw_hyper,
    has_step,
    make_params,
    make_shapes,
    numpy_uniform,
    ref_step,
)


@dataclass(frozen=True)
class Spec:
    cls: type           # the optimizer under test
    reference: str      # name of its algorithm in reference.py
    cases: tuple        # flag/hyper combinations (reference.CASES: every flag is covered)


SPECS_UNDER_TEST = (
    Spec(SGD, "SGD", tuple(CASES["SGD"])),
    Spec(Adam, "Adam", tuple(CASES["Adam"])),
    Spec(AdamW, "AdamW", tuple(CASES["AdamW"])),
    Spec(RMSprop, "RMSprop", tuple(CASES["RMSprop"])),
    Spec(Adagrad, "Adagrad", tuple(CASES["Adagrad"])),
    Spec(Lion, "Lion", tuple(CASES["Lion"])),
)
SPEC_CASES = [(spec, case) for spec in SPECS_UNDER_TEST for case in spec.cases]
SPEC_CASE_IDS = [case_id(spec.reference, case) for spec, case in SPEC_CASES]
SPEC_IDS = [spec.reference for spec in SPECS_UNDER_TEST]

N_STEPS = 50
LR_CHANGE_STEP = 25

# ---------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------

_size = st.sampled_from(SMALL_SIZES + ("large",)).flatmap(
    lambda s: st.integers(1000, 5000) if s == "large" else st.just(s))
_tensor = st.tuples(_size, st.sampled_from(["1d", "1d", "1d", "0d", "2d"]))
_group_shapes = st.lists(_tensor, min_size=1, max_size=3).map(make_shapes)


def _uniform(data):
    def uniform(low: float, high: float, log: bool) -> float:
        if log:
            return min(high, max(low, math.exp(data.draw(st.floats(math.log(low), math.log(high))))))
        return data.draw(st.floats(low, high))
    return uniform


# ---------------------------------------------------------------------------
# the harness
# ---------------------------------------------------------------------------

class Run:
    """The optimizer under test and the reference, fed identical gradients."""

    def __init__(self, spec: Spec, hyper: dict, dtype, group_shapes, group_lrs, seed: int,
                 grad_scale: float, style: str, reuse_grads: bool, group_dicts: bool,
                 omit_params: bool):
        self.spec, self.dtype, self.style, self.reuse = spec, np.dtype(dtype), style, reuse_grads
        self.arrays = [make_params(seed + 101 * g, shapes, dtype) for g, shapes in enumerate(group_shapes)]
        ref_groups = []
        for g, ps in enumerate(self.arrays):
            h = dict(hyper, lr=group_lrs[g])
            ref_groups.append(([p.copy() for p in ps], h))
        self.ref = RefOptimizer(spec.reference, ref_groups)
        self.sources = [GradSource(seed + 7 * g + 1, shapes, dtype, grad_scale)
                        for g, shapes in enumerate(group_shapes)]
        self.scales = ScaleTracker()
        index = 0
        for ps, _ in self.ref.groups:       # a parameter's scale starts at its first value:
            for p in ps:                     # a step may cancel most of it (p - lr*sign)
                self.scales.update(("p", index), p)
                index += 1
        if style == "parameter":
            self.params = [[ot.Parameter(a) for a in arrays] for arrays in self.arrays]
            if group_dicts:
                groups = [{"params": self.params[0]}] + [
                    {"params": ps, "lr": group_lrs[g]} for g, ps in enumerate(self.params) if g]
                self.opt = spec.cls(groups, **hyper)
            else:
                assert len(self.params) == 1
                self.opt = spec.cls(self.params[0], **hyper)
        else:
            assert len(self.arrays) == 1
            self.opt = spec.cls(**hyper) if omit_params else spec.cls(None, **hyper)
            self.grad_buffers = None
        assert isinstance(self.opt, Optimizer)

    def step(self) -> None:
        grads = [s.next() for s in self.sources]
        before = [[g.copy() for g in gs] for gs in grads]
        self.ref.step(grads)
        if self.style == "parameter":
            for ps, gs in zip(self.params, grads):
                for p, g in zip(ps, gs):
                    if self.reuse and p.grad is not None:
                        p.grad[...] = g
                    else:
                        p.grad = g.copy() if self.reuse else g
            self.opt.step()
        else:
            if self.reuse:
                if self.grad_buffers is None:
                    self.grad_buffers = [g.copy() for g in grads[0]]
                for buf, g in zip(self.grad_buffers, grads[0]):
                    buf[...] = g
                self.opt.step(self.arrays[0], self.grad_buffers)
            else:
                self.opt.step(self.arrays[0], grads[0])
        for gs, bs in zip(grads, before):
            for g, b in zip(gs, bs):
                assert np.array_equal(g, b), "step() modified a gradient"
        index = 0
        for ps, _ in self.ref.groups:
            for p in ps:
                self.scales.update(("p", index), p)
                index += 1
        for i, state in self.ref.state.items():
            for key, value in state.items():
                if key != "step":
                    self.scales.update((key, i), value)

    def set_lr(self, lrs: list[float]) -> None:
        for g, lr in enumerate(lrs):
            self.ref.set_lr(g, lr)
        if self.style == "parameter":
            for group, lr in zip(self.opt.param_groups, lrs):
                group["lr"] = lr  # what schedulers do
        else:
            self.opt.set_lr(lrs[0])

    def check_params(self, context: str) -> None:
        index = 0
        for g, (arrays, (ref_ps, _)) in enumerate(zip(self.arrays, self.ref.groups)):
            for j, (got, want) in enumerate(zip(arrays, ref_ps)):
                assert_close(got, want, self.dtype, self.scales.get(("p", index)),
                             slack=self.ref.slack[g][j],
                             what=f"{context}: group {g} param {j} shape {want.shape}")
                index += 1

    def check_state_dict(self, context: str) -> None:
        sd = self.opt.state_dict()
        assert {"state", "param_groups"} <= set(sd), f"state_dict keys: {sorted(sd)}"
        flat = [p for ps, _ in self.ref.groups for p in ps]
        index = 0
        assert len(sd["param_groups"]) == len(self.ref.groups)
        for sd_group, (ps, h) in zip(sd["param_groups"], self.ref.groups):
            assert list(sd_group["params"]) == list(range(index, index + len(ps)))
            assert sd_group["lr"] == h["lr"]
            index += len(ps)
        name = self.spec.reference
        for i, p in enumerate(flat):
            if p.size == 0:
                continue
            want = self.ref.state.get(i, {})
            got = sd["state"].get(i, {})
            got_buffers = {k for k, v in got.items() if k != "step" and v is not None}
            assert got_buffers == set(want) - {"step"}, (
                f"{context}: state[{i}] buffers {sorted(got_buffers)}, torch names {sorted(set(want) - {'step'})}")
            for key in got_buffers:
                assert_close(got[key], want[key], self.dtype, self.scales.get((key, i)),
                             slack=buffer_slack(want[key]),
                             what=f"{context}: state[{i}][{key!r}]")
            if has_step(name):
                assert "step" in got, f"{context}: state[{i}] has no 'step'"
                assert float(got["step"]) == want["step"]


def _draw_run(spec: Spec, case: dict, dtype, data) -> tuple[Run, dict]:
    uniform = _uniform(data)
    hyper = draw_hyper(spec.reference, case, uniform)
    style = data.draw(st.sampled_from(["parameter", "arrays"]), label="style")
    n_groups = data.draw(st.integers(1, 2), label="n_groups") if style == "parameter" else 1
    group_shapes = [data.draw(_group_shapes, label=f"shapes[{g}]") for g in range(n_groups)]
    group_lrs = [hyper["lr"]] + [uniform(1e-4, 1e-1, True) for _ in range(n_groups - 1)]
    run = Run(
        spec, hyper, dtype, group_shapes, group_lrs,
        seed=data.draw(st.integers(0, 2**31 - 1), label="seed"),
        grad_scale=uniform(1e-3, 1e2, True),
        style=style,
        reuse_grads=data.draw(st.booleans(), label="reuse_grads"),
        group_dicts=n_groups > 1 or data.draw(st.booleans(), label="group_dicts"),
        omit_params=data.draw(st.booleans(), label="omit_params"),
    )
    change_lr = data.draw(st.booleans(), label="change_lr")
    new_lrs = [uniform(1e-4, 1e-1, True) for _ in range(n_groups)] if change_lr else None
    return run, {"hyper": hyper, "new_lrs": new_lrs}


@pytest.mark.parametrize("spec,case", SPEC_CASES, ids=SPEC_CASE_IDS)
@given(dtype=st.sampled_from([np.float32, np.float64]), data=st.data())
def test_matches_reference(spec, case, dtype, data):
    run, info = _draw_run(spec, case, dtype, data)
    context = f"{spec.reference} {np.dtype(dtype).name} {info['hyper']} style={run.style}"
    for step in range(1, N_STEPS + 1):
        if step == LR_CHANGE_STEP and info["new_lrs"] is not None:
            run.set_lr(info["new_lrs"])
        run.step()
        if step in (1, 2):  # first-step rules show up here, before they average out
            run.check_params(f"{context} after step {step}")
    run.check_params(f"{context} after {N_STEPS} steps")
    if run.style == "parameter":
        run.check_state_dict(f"{context} after {N_STEPS} steps")


LARGE_GROUP = [(70001,), (), (3, 20011), (50003,), (1,)]  # ~180k elements: split over threads


@pytest.mark.parametrize("dtype,style", [(np.float32, "arrays"), (np.float64, "parameter")],
                         ids=["f32-arrays", "f64-parameter"])
@pytest.mark.parametrize("spec", SPECS_UNDER_TEST, ids=SPEC_IDS)
def test_large_group_split_over_threads(spec, dtype, style, monkeypatch):
    monkeypatch.setenv("ODYSSEY_NUM_THREADS", "3")
    case = max(spec.cases, key=len)  # the case with the most terms switched on
    hyper = draw_hyper(spec.reference, case, numpy_uniform(np.random.default_rng(len(case))))
    run = Run(spec, hyper, dtype, [LARGE_GROUP], [hyper["lr"]], seed=5, grad_scale=1.0,
              style=style, reuse_grads=False, group_dicts=False, omit_params=False)
    for _ in range(20):
        run.step()
    context = f"{spec.reference} {np.dtype(dtype).name} {hyper} large group"
    run.check_params(context)
    if style == "parameter":
        run.check_state_dict(context)


# ---------------------------------------------------------------------------
# API details that need no Hypothesis
# ---------------------------------------------------------------------------

def _params(dtype=np.float64, shapes=((5,), (), (17,))):
    return [ot.Parameter(a) for a in make_params(3, list(shapes), dtype)]


def _run_steps(opt, params, n=5, seed=11):
    source = GradSource(seed, [p.data.shape for p in params], params[0].data.dtype)
    for _ in range(n):
        for p, g in zip(params, source.next()):
            p.grad = g
        opt.step()


@pytest.mark.parametrize("spec", SPECS_UNDER_TEST, ids=SPEC_IDS)
def test_defaults_are_torchs(spec):
    params = _params()
    opt = spec.cls(params)
    group = opt.param_groups[0]
    for key, default in DEFAULTS[spec.reference].items():
        assert key in group, f"{spec.reference}: param_groups[0] lacks {key!r}"
        value = tuple(group[key]) if key == "betas" else group[key]
        assert value == default, f"{spec.reference}: default {key}={value!r}, torch {default!r}"
    assert opt.get_lr() == DEFAULTS[spec.reference]["lr"]
    # and the defaults are what the kernels use
    arrays = [p.data.copy() for p in params]
    state: dict = {}
    source = GradSource(11, [a.shape for a in arrays], np.float64)
    for _ in range(5):
        grads = source.next()
        ref_step(spec.reference, arrays, grads, state, {})
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
    for p, want in zip(params, arrays):
        assert_close(p.data, want, np.float64, what=f"{spec.reference} with defaults")


ALIASES = {
    "SGD": ({"learning_rate": 0.05}, {"lr": 0.05}),
    "Adam": ({"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-6},
             {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6}),
    "AdamW": ({"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-6},
              {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6}),
    "RMSprop": ({"learning_rate": 0.01, "epsilon": 1e-6}, {"lr": 0.01, "eps": 1e-6}),
    "Adagrad": ({"learning_rate": 0.01, "epsilon": 1e-6}, {"lr": 0.01, "eps": 1e-6}),
    "Lion": ({"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95},
             {"lr": 0.01, "betas": (0.8, 0.95)}),
}


@pytest.mark.parametrize("spec", SPECS_UNDER_TEST, ids=SPEC_IDS)
def test_original_spellings_are_aliases(spec):
    alias_kwargs, torch_kwargs = ALIASES[spec.reference]
    a, b = _params(), _params()
    opt_a = spec.cls(a, **alias_kwargs)
    opt_b = spec.cls(b, **torch_kwargs)
    group = opt_a.param_groups[0]
    for key, value in torch_kwargs.items():
        assert (tuple(group[key]) if key == "betas" else group[key]) == value
    _run_steps(opt_a, a)
    _run_steps(opt_b, b)
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa.data, pb.data)


@pytest.mark.parametrize("spec", SPECS_UNDER_TEST, ids=SPEC_IDS)
def test_get_lr_set_lr(spec):
    params = _params()
    opt = spec.cls(params, lr=0.01)
    assert opt.get_lr() == 0.01
    opt.set_lr(0.125)
    assert opt.get_lr() == 0.125
    assert all(group["lr"] == 0.125 for group in opt.param_groups)
    arrays = [p.data.copy() for p in params]
    state: dict = {}
    source = GradSource(5, [a.shape for a in arrays], np.float64)
    for _ in range(3):
        grads = source.next()
        ref_step(spec.reference, arrays, grads, state, {"lr": 0.125})
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
    for p, want in zip(params, arrays):
        assert_close(p.data, want, np.float64, what=f"{spec.reference} after set_lr")


@pytest.mark.parametrize("spec", SPECS_UNDER_TEST, ids=SPEC_IDS)
def test_zero_grad(spec):
    params = _params()
    opt = spec.cls(params)
    for p in params:
        p.grad = np.ones_like(p.data)
    grads = [p.grad for p in params]
    opt.zero_grad(set_to_none=False)
    for p, g in zip(params, grads):
        assert p.grad is g, "zero_grad(set_to_none=False) must zero the gradient in place"
        assert np.all(p.grad == 0)
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    for p in params:
        p.grad = np.ones_like(p.data)
    opt.zero_grad(set_to_none=True)
    assert all(p.grad is None for p in params)


@pytest.mark.parametrize("spec", SPECS_UNDER_TEST, ids=SPEC_IDS)
def test_updates_are_in_place_in_callers_arrays(spec):
    arrays = make_params(8, [(9,), ()], np.float32)
    originals = [a.copy() for a in arrays]
    params = [ot.Parameter(a) for a in arrays]
    assert all(p.data is a for p, a in zip(params, arrays))
    opt = spec.cls(params, lr=0.1)
    for p in params:
        p.grad = np.full_like(p.data, 0.5)
    opt.step()
    for p, a, o in zip(params, arrays, originals):
        assert p.data is a
        assert not np.array_equal(a, o), "the caller's array did not change"
    # step(params, grads) updates the arrays it is given
    loose = make_params(8, [(9,), ()], np.float32)
    originals = [a.copy() for a in loose]
    opt2 = spec.cls(lr=0.1)
    opt2.step(loose, [np.full_like(a, 0.5) for a in loose])
    for a, o in zip(loose, originals):
        assert not np.array_equal(a, o)
    # both styles compute the same
    for a, p in zip(loose, params):
        assert_close(a, p.data, np.float32, what=f"{spec.reference}: step(params, grads) vs step()")
