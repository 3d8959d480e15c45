"""Every candidate variant the tuner may choose computes what the default does:
each standard optimizer, run through the runtime with the variant forced in as
this machine's wisdom, agrees with the NumPy reference (reference.py, written
from torch's equations) and with the default shape to rounding; the lowering
says in its IR what each dimension changes."""

from __future__ import annotations

import dataclasses
import itertools
import re

import numpy as np
import pytest

import odyssey_training as ot
from odyssey_codegen.api import default_target, kernel_llvm_ir, tune_job_for
from odyssey_codegen.target import vector_bits
from odyssey_codegen.tune import wisdom
from odyssey_codegen.tune import default_for
from odyssey_codegen.variant import CHUNKS, Variant
from odyssey_training.optimizers import SGD, Adagrad, Adam, AdamW, Lion, RMSprop

from ..optimizers.reference import RefOptimizer, assert_close

#: (optimizer, torch-named hyperparameters): every standard spec, flags that matter
OPTIMIZERS = [(AdamW, {"lr": 0.01, "weight_decay": 0.1}), (Adam, {"lr": 0.01, "amsgrad": True}),
              (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
              (RMSprop, {"lr": 0.01, "centered": True, "momentum": 0.5}),
              (Adagrad, {"lr": 0.05, "lr_decay": 0.01}), (Lion, {"lr": 0.001, "weight_decay": 0.1})]
#: sizes that exercise the alignment peel, the main, one-vector and scalar loops,
#: several rows of the smallest chunk; the last parameter sits 4 bytes off its
#: allocation, so its arrays are misaligned to each other (streaming falls back)
SIZES = [3, 37, 1000, 2 * CHUNKS[0] + 77, 531]
STEPS = 3


def widths(dtype: str) -> list[int]:
    widest = vector_bits(default_target().cpu, default_target().features)[1]
    item = np.dtype(dtype).itemsize
    return [bits // (8 * item) for bits in (128, 256, 512) if bits <= widest]


def candidates(dtype: str) -> list[Variant]:
    """Width x division x stores (at the default unroll), every unroll with streaming
    at the widest width, other prefetch distances and row lengths: every value of
    every dimension the tuner times, in the combinations that change the loops."""
    base = default_for("update", dtype, default_target())
    item = np.dtype(dtype).itemsize
    out = [dataclasses.replace(base, width=w, unroll=max(1, min(4, 64 // (w * item))),
                               division=d, streaming=s)
           for w, d, s in itertools.product(widths(dtype), ("exact", "reciprocal"),
                                            (False, True))]
    out += [dataclasses.replace(base, width=widths(dtype)[-1], unroll=u, streaming=True,
                                division="reciprocal") for u in (1, 2, 4)]
    out += [dataclasses.replace(base, prefetch=p) for p in (0, 256, 1024)]
    out += [dataclasses.replace(base, chunk=c) for c in CHUNKS]
    return list(dict.fromkeys(out))


def make_arrays(dtype: str, seed: int) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    rng = np.random.default_rng(seed)
    params = []
    for k, n in enumerate(SIZES):
        a = rng.standard_normal(n).astype(dtype)
        if k == len(SIZES) - 1:                       # 4 bytes off: misaligned
            shifted = np.empty(n + 1, dtype=np.float32 if dtype == "float32" else np.float64)
            a = np.frombuffer(shifted.data, dtype=dtype, count=n, offset=shifted.itemsize)
            a[...] = rng.standard_normal(n)
        params.append(a)
    grads = [[rng.standard_normal(n).astype(dtype) for n in SIZES] for _ in range(STEPS)]
    return params, grads


def force(monkeypatch, opt_cls, hyper: dict, dtype: str, variant: Variant) -> None:
    """Make ``variant`` this machine's wisdom for the optimizer's kernel."""
    monkeypatch.setenv("ODYSSEY_TUNE", "1")
    probe = opt_cls([ot.Parameter(np.zeros(1, dtype))], **hyper)
    flags = probe._check_variant(probe.param_groups[0])
    job = tune_job_for(opt_cls.spec, flags, dtype, False, default_target())
    wisdom.store(job.ident, "update", dtype, job.target,
                 wisdom.Wisdom({c: variant for c in wisdom.CLASSES}, "test", 0.0, {}))


def run(opt_cls, hyper: dict, dtype: str, params: list[np.ndarray],
        grads: list[list[np.ndarray]]) -> tuple[list[np.ndarray], Variant]:
    ps = [ot.Parameter(a.copy()) for a in params]
    opt = opt_cls(ps, **hyper)
    for gs in grads:
        for p, g in zip(ps, gs):
            p.grad = g
        opt.step()
    kernel = next(iter(opt._settings[0].kernels.values()))
    return [p.data for p in ps], kernel.variant


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opt_cls, hyper", OPTIMIZERS, ids=lambda x: getattr(x, "__name__", ""))
def test_every_candidate_agrees_with_numpy_and_the_default(monkeypatch, opt_cls, hyper, dtype):
    if dtype == "float64" and opt_cls not in (AdamW, SGD):
        pytest.skip("float64: the two kernels whose loops differ most (divisions, FMAs)")
    params, grads = make_arrays(dtype, seed=len(hyper))
    ref = RefOptimizer(opt_cls.__name__, [([a.copy() for a in params], hyper)])
    for gs in grads:
        ref.step([gs])
    default, _ = run(opt_cls, hyper, dtype, params, grads)     # the suite runs ODYSSEY_TUNE=0
    rtol = 8 * STEPS * np.finfo(dtype).eps
    for variant in candidates(dtype):
        force(monkeypatch, opt_cls, hyper, dtype, variant)
        result, ran = run(opt_cls, hyper, dtype, params, grads)
        assert ran == variant
        for k, (got, want, base) in enumerate(zip(result, ref.groups[0][0], default)):
            what = f"{opt_cls.__name__} {variant.tag()} tensor {k}"
            assert_close(got, want, dtype, slack=ref.slack[0][k], what=what)
            np.testing.assert_allclose(got, base, rtol=rtol, atol=rtol * float(np.abs(base).max()),
                                       err_msg=what)


def test_prefetch_distance_changes_no_bit(monkeypatch):
    """Prefetches move no element to another loop: the results are bit for bit."""
    params, grads = make_arrays("float32", seed=3)
    hyper = {"lr": 0.01, "weight_decay": 0.1}
    base = default_for("update", "float32", default_target())
    results = []
    for p in (0, 256, 1024, 2048, 4096):
        force(monkeypatch, AdamW, hyper, "float32", dataclasses.replace(base, prefetch=p))
        results.append(run(AdamW, hyper, "float32", params, grads)[0])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)


def _loop_ir(variant: Variant) -> str:
    spec = AdamW.spec
    return kernel_llvm_ir(spec, {"amsgrad": False, "maximize": False}, "float32",
                          variant=variant, optimized=False)


def test_the_ir_shows_each_dimension():
    base = Variant(8, 2, 512)
    exact, recip = _loop_ir(base), _loop_ir(dataclasses.replace(base, division="reciprocal"))
    vector_divs = lambda text: len(re.findall(r"fdiv contract <8 x float>", text))
    assert vector_divs(exact) == 2 * 2 + 2   # two per vector: main loop (x2 unrolled), vec loop
    assert vector_divs(recip) == 2 + 1       # one per vector: sqrt(v) * (1/sqrt(bc2))
    assert "fdiv contract double 1.0" in recip.replace("0x3ff0000000000000", "1.0")
    stream = _loop_ir(dataclasses.replace(base, streaming=True))
    assert "!nontemporal" in stream and "llvm.x86.sse.sfence" in stream
    assert "!nontemporal" not in exact and "peel" in stream
    assert len(re.findall(r"llvm.prefetch", _loop_ir(dataclasses.replace(base, prefetch=0)))) == 0
    four = _loop_ir(dataclasses.replace(base, unroll=4))
    assert four.count("load <8 x float>") == 4 * 4 + 4   # 4 arrays read, 4 vectors + vec loop
    assert not re.search(r"\b(fast|afn|arcp|reassoc|nnan|ninf|nsz)\b", stream + recip)


@pytest.mark.parametrize("bad", [dict(width=3), dict(unroll=0), dict(prefetch=100),
                                 dict(division="fast"), dict(streaming=1), dict(chunk=32),
                                 dict(unroll=32)])
def test_impossible_variants_are_refused(bad):
    fields = dict(width=8, unroll=2, prefetch=512) | bad
    with pytest.raises(ValueError, match="variant"):
        Variant(**fields)


def test_streaming_stores_need_an_x86_target():
    target = dataclasses.replace(default_target(), triple="aarch64-unknown-linux-gnu")
    with pytest.raises(ValueError, match="streaming stores need an x86 target"):
        kernel_llvm_ir(AdamW.spec, {"amsgrad": False, "maximize": False}, "float32",
                       variant=Variant(4, 1, 0, streaming=True), target=target, optimized=False)
