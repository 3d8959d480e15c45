"""Validates the NumPy references (reference.py) before anyone relies on them.

Every case of reference.CASES runs N=50 steps in the reference and in
torch.optim (foreach=False) on random data and must agree to the per-dtype
tolerance.  Lion has no torch version: it is checked against a hand-unrolled
three-step computation.  Needs no compiled kernel.
"""

import numpy as np
import pytest

from .reference import (
    ALL_CASES,
    RefOptimizer,
    ScaleTracker,
    TorchRun,
    assert_close,
    buffer_names,
    case_id,
    draw_hyper,
    has_step,
    make_params,
    numpy_uniform,
    ref_step,
    GradSource,
)

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.nokernel

N_STEPS = 50
SHAPES = [(), (0,), (1,), (7,), (2, 17), (1000,)]
TORCH_CASES = [(n, c) for n, c in ALL_CASES if n != "Lion"]


def _run_both(name, case, dtype, seed, n_groups=2):
    rng = np.random.default_rng(seed)
    hyper = draw_hyper(name, case, numpy_uniform(rng))
    split = len(SHAPES) // 2 if n_groups == 2 else len(SHAPES)
    group_shapes = [SHAPES[:split], SHAPES[split:]][:n_groups]
    groups_ref, groups_torch, sources = [], [], []
    for gi, shapes in enumerate(group_shapes):
        h = dict(hyper)
        if gi:
            h["lr"] = hyper["lr"] * float(rng.uniform(0.2, 3.0))  # a different lr per group
        params = make_params(seed + gi, shapes, dtype)
        groups_ref.append((params, h))
        groups_torch.append((params, h))  # TorchRun copies the arrays
        sources.append(GradSource(seed * 7 + gi, shapes, dtype, scale=float(rng.uniform(0.1, 3.0))))
    torch_run = TorchRun(name, groups_torch)
    ref = RefOptimizer(name, groups_ref)
    scales = ScaleTracker()
    for _ in range(N_STEPS):
        grads = [s.next() for s in sources]
        ref.step(grads)
        torch_run.step(grads)
        for i, p in enumerate(p for ps, _ in ref.groups for p in ps):
            scales.update(("p", i), p)
        for i, st in ref.state.items():
            for k, v in st.items():
                if k != "step":
                    scales.update((k, i), v)
    return ref, torch_run, scales, hyper


@pytest.mark.parametrize("seed,dtype", [(1, np.float64), (2, np.float64), (3, np.float32)],
                         ids=["seed1-float64", "seed2-float64", "seed3-float32"])
@pytest.mark.parametrize("name,case", TORCH_CASES, ids=[case_id(n, c) for n, c in TORCH_CASES])
def test_reference_matches_torch(name, case, dtype, seed):
    ref, torch_run, scales, hyper = _run_both(name, case, dtype, seed)
    ref_params = [p for ps, _ in ref.groups for p in ps]
    for i, (got, want) in enumerate(zip(ref_params, torch_run.params())):
        assert_close(got, want, dtype, scales.get(("p", i)),
                     what=f"{name} {hyper} param {i}: reference vs torch")
    torch_state = torch_run.state()
    assert set(torch_state) == set(ref.state)
    for i, tst in torch_state.items():
        rst = ref.state[i]
        assert set(rst) == set(tst), f"state keys of param {i}: reference {set(rst)}, torch {set(tst)}"
        assert set(rst) - {"step"} == buffer_names(name, hyper)
        assert ("step" in rst) == has_step(name)
        for k, v in tst.items():
            if k == "step":
                assert rst[k] == v == N_STEPS
            else:
                assert_close(rst[k], v, dtype, scales.get((k, i)),
                             what=f"{name} {hyper} state[{i}][{k!r}]: reference vs torch")


def test_reference_computes_in_the_array_dtype():
    """float32 in, float32 out, float32 state: no silent upcast in the reference."""
    for name, case in ALL_CASES:
        hyper = draw_hyper(name, case, numpy_uniform(np.random.default_rng(0)))
        p = np.ones(5, np.float32)
        state = {}
        ref_step(name, [p], [np.full(5, 0.5, np.float32)], state, hyper)
        assert p.dtype == np.float32
        for k, v in state.get(0, {}).items():
            if k != "step":
                assert v.dtype == np.float32, (name, k)


def test_sgd_first_momentum_buffer_is_the_gradient():
    p = np.array([1.0, -2.0])
    g = np.array([0.5, 0.25])
    state = {}
    ref_step("SGD", [p], [g], state, {"lr": 0.1, "momentum": 0.9, "dampening": 0.5,
                                      "weight_decay": 0.1, "maximize": True})
    expected_buf = -g + 0.1 * np.array([1.0, -2.0])
    np.testing.assert_array_equal(state[0]["momentum_buffer"], expected_buf)
    np.testing.assert_allclose(p, np.array([1.0, -2.0]) - 0.1 * expected_buf, rtol=1e-15)


def _lion_unrolled(p0, grads, lr, b1, b2, wd):
    """Chen et al. 2023, Algorithm 2, written out step by step in float64."""
    sign = np.sign
    g1, g2, g3 = grads
    m0 = np.zeros_like(p0)
    c1 = b1 * m0 + (1 - b1) * g1
    p1 = p0 * (1 - lr * wd) - lr * sign(c1)
    m1 = b2 * m0 + (1 - b2) * g1
    c2 = b1 * m1 + (1 - b1) * g2
    p2 = p1 * (1 - lr * wd) - lr * sign(c2)
    m2 = b2 * m1 + (1 - b2) * g2
    c3 = b1 * m2 + (1 - b1) * g3
    p3 = p2 * (1 - lr * wd) - lr * sign(c3)
    m3 = b2 * m2 + (1 - b2) * g3
    return p3, m3, (c1, c2, c3)


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_lion_reference_matches_hand_unrolled_three_steps(wd):
    lr, b1, b2 = 0.01, 0.9, 0.99
    p0 = np.array([1.0, -1.0, 0.5, 0.0, 2.0])
    grads = [
        np.array([0.3, -0.2, 0.0, 1.0, 4.0]),     # element 2: zero gradient -> sign(0) = 0
        np.array([-0.01, 0.5, 0.0, -1.0, -0.1]),  # element 0, 4: momentum keeps the sign
        np.array([-0.02, -0.5, 0.0, 2.0, -0.1]),
    ]
    expected_p, expected_m, cs = _lion_unrolled(p0, grads, lr, b1, b2, wd)
    # the example exercises: a zero update, a sign set by momentum against the gradient
    assert np.all(np.array([c[2] for c in cs]) == 0.0)
    assert cs[1][4] > 0 > grads[1][4]
    p = p0.copy()
    state = {}
    for g in grads:
        ref_step("Lion", [p], [g], state, {"lr": lr, "betas": (b1, b2), "weight_decay": wd})
    np.testing.assert_allclose(p, expected_p, rtol=1e-15, atol=1e-16)
    np.testing.assert_allclose(state[0]["exp_avg"], expected_m, rtol=1e-15, atol=1e-16)
    assert set(state[0]) == {"exp_avg"}
    if wd == 0.0:
        assert p[2] == 0.5  # never moved: sign(0) = 0 on every step


def test_lion_reference_float32():
    p = np.array([1.0, -1.0], np.float32)
    state = {}
    ref_step("Lion", [p], [np.array([0.5, -0.5], np.float32)], state,
             {"lr": 0.25, "betas": (0.9, 0.99), "weight_decay": 0.0})
    assert p.dtype == np.float32
    np.testing.assert_array_equal(p, np.array([0.75, -0.75], np.float32))
