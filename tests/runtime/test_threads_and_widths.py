"""Results do not depend on the thread count (bitwise) and agree across SIMD
widths to rounding; no allocation growth across steps."""

import gc
import tracemalloc

import numpy as np
import pytest

import odyssey_training as ot
from codegen.api import compile_kernel, load_spec_file
from odyssey_training.optimizers import SGD, Adam, AdamW, Adagrad, RMSprop
from odyssey_training.threads import PARALLEL_MIN_ELEMENTS

from ..codegen.kernel_call import call_kernel


def run(cls, threads, dtype, steps=5, **kw):
    rng = np.random.default_rng(7)
    sizes = [PARALLEL_MIN_ELEMENTS + 17, 1000, 3, PARALLEL_MIN_ELEMENTS // 2 + 5]
    params = [ot.Parameter(rng.standard_normal(n).astype(dtype)) for n in sizes]
    grads = [[rng.standard_normal(n).astype(dtype) for n in sizes] for _ in range(steps)]
    opt = cls(params, num_threads=threads, **kw)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = g
        opt.step()
    return [p.data for p in params], opt


@pytest.mark.parametrize("cls, kw", [(AdamW, {"lr": 0.01}), (SGD, {"lr": 0.1, "momentum": 0.9}),
                                     (RMSprop, {"centered": True, "momentum": 0.5}),
                                     (AdamW, {"lr": 0.01, "max_grad_norm": 1.0})])
def test_thread_count_does_not_change_results(cls, kw):
    one, opt1 = run(cls, 1, np.float32, **kw)
    three, opt3 = run(cls, 3, np.float32, **kw)
    assert len(opt3.param_groups) == 1
    for a, b in zip(one, three):
        assert np.array_equal(a, b)
    assert opt1.last_grad_norm == opt3.last_grad_norm


@pytest.mark.parametrize("path", ["adam", "adagrad", "rmsprop", "lion"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_widths_agree(path, dtype):
    spec = load_spec_file(f"specs/optimizers/{path}.toml")
    flags = {f.name: False for f in spec.flags}
    rng = np.random.default_rng(1)
    n = 45
    base = {name: rng.standard_normal(n).astype(dtype) for name in ("p", "g")}
    slots = {name: 0.0 for name in spec.hyper_names + spec.scalar_names}
    slots.update({h.name: h.default for h in spec.hypers})
    slots.update({"lr": 0.01, "step": 1.0, "first_step": 1.0, "grad_scale": 1.0,
                  "bc1": 0.1, "bc2": 0.001, "clr": 0.01})
    results = []
    for width in (1, 4, 8, 16):
        kernel = compile_kernel(spec, flags, dtype, width=width)
        arrays = {k: v.copy() for k, v in base.items()}
        arrays.update({s: np.full(n, 0.5, dtype=dtype) for s in kernel.states})
        call_kernel(kernel, arrays, slots, rows=[(0, 20), (20, 45)])
        results.append(arrays["p"])
    rtol = 1e-6 if dtype == "float32" else 1e-14
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=rtol, atol=rtol)


@pytest.mark.parametrize("cls, clip", [(Adam, None), (SGD, None), (Adagrad, None),
                                       (AdamW, 1.0)])
def test_no_memory_growth_across_steps(cls, clip):
    rng = np.random.default_rng(0)
    params = [ot.Parameter(rng.standard_normal(n).astype(np.float32)) for n in (1000, 10, 257)]
    for p in params:
        p.grad = rng.standard_normal(p.data.size).astype(np.float32)
    opt = cls(params, lr=0.01, max_grad_norm=clip, **({"momentum": 0.9} if cls is SGD else {}))
    for _ in range(5):
        opt.step()
    tracemalloc.start()
    try:
        opt.step()
        gc.collect()
        before = tracemalloc.take_snapshot()
        for _ in range(100):
            opt.step()
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename") if s.size_diff > 0)
    assert growth < 4096, f"{growth} bytes allocated and kept over 100 steps"
