"""Every standard spec, every variant: the IR verifies, the emitted LLVM IR
carries only the ``contract`` fast-math flag, and the width is real."""

import glob
import itertools
import re

import pytest

from odyssey_codegen.api import kernel_llvm_ir, load_spec_file
from odyssey_codegen.ir import build_ir, verify
from odyssey_codegen.lower_llvm import lower_kernel

SPECS = sorted(glob.glob("specs/optimizers/*.toml"))
FORBIDDEN = re.compile(r"\b(fast|afn|arcp|reassoc|nnan|ninf|nsz)\b")


def variants(spec):
    names = spec.flag_names
    for combo in itertools.product((False, True), repeat=len(names)):
        yield dict(zip(names, combo))


@pytest.mark.parametrize("path", SPECS)
def test_every_variant_verifies_and_lowers_with_contract_only(path):
    spec = load_spec_file(path)
    for flags in variants(spec):
        for clip in (False, True):
            kir = verify(build_ir(spec, flags, "float32", clip))
            text = lower_kernel(kir, 8, "k")
            assert not FORBIDDEN.search(text), f"{path} {flags}: forbidden fast-math flag"
            assert "contract" in text
            assert "<8 x float>" in text


def test_optimized_ir_keeps_exact_sqrt_and_division():
    spec = load_spec_file("specs/optimizers/adam.toml")
    flags = {"amsgrad": False, "maximize": False, "decoupled_weight_decay": False}
    text = kernel_llvm_ir(spec, flags, "float32", width=8)
    assert not FORBIDDEN.search(text)
    assert "llvm.sqrt.v8f32" in text and "fdiv contract <8 x float>" in text
    assert "rsqrt" not in text


@pytest.mark.parametrize("width", [1, 2, 4, 16])
def test_width_is_part_of_the_kernel(width):
    spec = load_spec_file("specs/optimizers/sgd.toml")
    text = lower_kernel(build_ir(spec, {"nesterov": False, "maximize": False,
                                        "use_momentum": True}, "float64"), width, "k")
    if width == 1:
        assert "x double>" not in text
    else:
        assert f"<{width} x double>" in text


def test_width_must_be_a_power_of_two():
    spec = load_spec_file("specs/optimizers/lion.toml")
    with pytest.raises(ValueError, match="power of two"):
        lower_kernel(build_ir(spec, {}, "float32"), 3, "k")


def test_uniform_subexpressions_are_hoisted_in_double():
    spec = load_spec_file("specs/optimizers/adam.toml")
    kir = build_ir(spec, {"amsgrad": False, "maximize": False, "decoupled_weight_decay": False},
                   "float32")
    text = lower_kernel(kir, 8, "k")
    prologue = text.split("main_head:")[0]
    # lr / bc1 and sqrt(bc2) are computed once per row, in double, before the loops
    assert "fdiv contract double" in prologue and "llvm.sqrt.f64" in prologue
