"""The compiler checked against an independent NumPy interpreter of the same
statements, on randomly generated specs (hypothesis)."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from odyssey_codegen.api import compile_kernel, load_spec_text
from odyssey_codegen.ir import build_ir

from .interp import run_ir
from .kernel_call import call_kernel

PRIMARY = ["p", "g", "s0", "s1", "h0", "h1"]
TOL = {"float64": (1e-10, 1e-10), "float32": (2e-4, 2e-4)}


def expressions(leaves: list[str]) -> st.SearchStrategy[str]:
    base = st.sampled_from(leaves + ["0.5", "2.0", "-1.5", "step"])
    primary = st.sampled_from(PRIMARY)

    def extend(inner):
        two = st.tuples(inner, inner)
        return st.one_of(
            two.map(lambda t: f"({t[0]} + {t[1]})"),
            two.map(lambda t: f"({t[0]} - {t[1]})"),
            two.map(lambda t: f"({t[0]} * {t[1]})"),
            two.map(lambda t: f"({t[0]} / (1 + abs({t[1]})))"),
            two.map(lambda t: f"min({t[0]}, {t[1]})"),
            two.map(lambda t: f"max({t[0]}, {t[1]})"),
            inner.map(lambda a: f"sqrt(abs({a}))"),
            inner.map(lambda a: f"(-{a})"),
            inner.map(lambda a: f"exp(-abs({a}))"),
            inner.map(lambda a: f"log(1 + abs({a}))"),
            inner.map(lambda a: f"clip({a}, -1.0, 1.0)"),
            primary.map(lambda a: f"sign({a})"),
            st.tuples(primary, primary, inner, inner).map(
                lambda t: f"where({t[0]} < {t[1]}, {t[2]}, {t[3]})"),
            two.map(lambda t: f"lerp({t[0]}, {t[1]}, h0)"),
            st.tuples(inner, inner).map(lambda t: f"({t[0]} if f0 else {t[1]})"),
        )
    return st.recursive(base, extend, max_leaves=6)


@st.composite
def random_spec(draw) -> str:
    statements, local_names = [], []
    for i in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(["s0", "s1", "g", f"t{i}"]))
        expr = draw(expressions(PRIMARY + local_names))
        cond = draw(st.sampled_from(["", "", "  if f0", "  if not f0"]))
        if target.startswith("t"):
            cond = ""  # keep locals defined in every variant
            local_names.append(target)
        statements.append(f"{target} = {expr}{cond}")
    statements.append(f"p = {draw(expressions(PRIMARY + local_names))}")
    body = ",\n  ".join(f'"{s}"' for s in statements)
    return f"""
name = "Random"
[hyper]
h0 = 0.3
h1 = -1.25
[flags]
f0 = false
[state]
s0 = "zeros"
s1 = "zeros"
[update]
statements = [
  {body},
]
"""


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@given(text=random_spec(), f0=st.booleans(), n=st.sampled_from([0, 1, 7, 8, 9, 33, 71, 200]),
       seed=st.integers(0, 2**16), width=st.sampled_from([1, 2, 4, 8, 16]))
def test_kernel_matches_interpreter(dtype, text, f0, n, seed, width):
    spec = load_spec_text(text, "random.toml")
    flags = {"f0": f0}
    rng = np.random.default_rng(seed)
    arrays = {name: rng.standard_normal(n).astype(dtype) for name in ("p", "g", "s0", "s1")}
    slots = {"h0": 0.3, "h1": -1.25, "step": 3.0, "first_step": 0.0, "grad_scale": 1.0}
    kir = build_ir(spec, flags, dtype)
    expected = run_ir(kir, {k: v for k, v in arrays.items()
                            if k in ("p", "g") or k in kir.states}, slots)
    kernel = compile_kernel(spec, flags, dtype, width=width)
    got = {k: v.copy() for k, v in arrays.items()}
    call_kernel(kernel, got, slots)
    rtol, atol = TOL[dtype]
    for name in ("p",) + kir.states:  # g is read-only: the kernel never writes it
        want = expected[name]
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        np.testing.assert_allclose(got[name], want, rtol=rtol, atol=atol * max(1.0, scale),
                                   err_msg=f"{name} differs for\n{text}")
