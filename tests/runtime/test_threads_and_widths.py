"""Results do not depend on the thread count (bitwise) and agree across SIMD
widths to rounding; no allocation growth across steps."""

import numpy as np
import pytest

import odyssey_training as ot
from odyssey_codegen.api import compile_kernel, load_spec_file
from odyssey_training.optimizers import SGD, Adam, AdamW, Adagrad, RMSprop
from odyssey_training.threads import PARALLEL_MIN_ELEMENTS

from ..codegen.kernel_call import call_kernel
from .memory import bytes_kept


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
    for _ in range(6):
        opt.step()
    growth = bytes_kept(lambda _: opt.step())
    assert growth < 4096, f"{growth} bytes allocated and kept over 100 steps"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_loop_of_the_kernel_at_every_width(dtype):
    """Sizes 0..80 and one large row go through the unrolled main loop (with its
    prefetches), the one-vector loop and the scalar tail of each width; every
    width agrees with the scalar kernel (width 1) to rounding, and prefetching
    never changes a bit."""
    import dataclasses

    from odyssey_codegen.api import default_target

    spec = load_spec_file("specs/optimizers/adam.toml")
    flags = {"amsgrad": False, "maximize": False, "decoupled_weight_decay": False}
    rng = np.random.default_rng(5)
    sizes = list(range(81)) + [CHUNK_PLUS]
    offsets = np.cumsum([0] + sizes)
    n = int(offsets[-1])
    base = {"p": rng.standard_normal(n).astype(dtype), "g": rng.standard_normal(n).astype(dtype),
            "exp_avg": rng.standard_normal(n).astype(dtype),
            "exp_avg_sq": rng.random(n).astype(dtype)}
    slots = {h.name: h.default for h in spec.hypers}
    slots.update({"lr": 0.01, "weight_decay": 0.1, "step": 3.0, "first_step": 0.0,
                  "grad_scale": 1.0})
    rows = list(zip(offsets[:-1].tolist(), offsets[1:].tolist()))
    no_prefetch = dataclasses.replace(default_target(), prefetch_bytes=0)
    results = {}
    for width in (1, 2, 4, 8, 16):
        for target in (default_target(), no_prefetch):
            kernel = compile_kernel(spec, flags, dtype, width=width, target=target)
            arrays = {k: v.copy() for k, v in base.items()}
            call_kernel(kernel, arrays, slots, rows=rows)
            results[width, target.prefetch_bytes] = arrays
    rtol = 1e-6 if dtype == "float32" else 1e-14
    for (width, prefetch), arrays in results.items():
        for name in ("p", "exp_avg", "exp_avg_sq"):
            assert np.array_equal(arrays[name], results[width, 0][name]), (width, name)
            np.testing.assert_allclose(arrays[name], results[1, 0][name], rtol=rtol,
                                       atol=rtol, err_msg=f"width {width} {name}")


CHUNK_PLUS = 65536 + 37


@pytest.mark.parametrize("width", [1, 4, 16])
def test_simd_width_per_optimizer(width):
    default, _ = run(AdamW, 1, np.float32, lr=0.01)
    chosen, opt = run(AdamW, 1, np.float32, lr=0.01, simd_width=width)
    kernel = next(iter(opt._settings[0].kernels.values()))
    assert kernel.width == width and f"_w{width}_" in kernel.symbol
    for a, b in zip(default, chosen):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bad", [0, 3, 12, 128, -4, 2.0, True, "8"])
def test_simd_width_is_validated(bad):
    with pytest.raises(ValueError, match="simd_width must be a power of two"):
        AdamW(simd_width=bad)


def test_many_threads_take_tasks_on_demand():
    """More threads than cores, uneven tensors: still bit for bit the 1-thread result,
    with the norm pass as well."""
    one, opt1 = run(AdamW, 1, np.float32, lr=0.01, max_grad_norm=1.0)
    many, opt8 = run(AdamW, 8, np.float32, lr=0.01, max_grad_norm=1.0)
    plan = next(iter(opt8._plans.values()))
    assert plan._workers == len(plan._tasks) > 2   # rows of at most 64K elements
    for a, b in zip(one, many):
        assert np.array_equal(a, b)
    assert opt1.last_grad_norm == opt8.last_grad_norm
