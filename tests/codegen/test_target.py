"""Target selection: host with its full feature string, named CPUs validated
against LLVM's own list, clear errors for unknown names."""

import os
import subprocess
import sys

import pytest

from odyssey_codegen.api import compile_kernel, kernel_assembly, load_spec_file
from odyssey_codegen.target import TargetError, host_target, known_cpus, named_target, vector_bits


def test_host_target_uses_the_feature_string():
    t = host_target()
    assert t.features.startswith("+") or t.features.startswith("-")
    assert t.vector_bits in (128, 256, 512)
    assert t.width("float32") == t.vector_bits // 32
    assert t.key() != named_target(t.cpu).key()  # features are part of the key


def test_known_cpus_come_from_llvm():
    cpus = known_cpus()
    assert "skylake-avx512" in cpus and "x86-64" in cpus and len(cpus) > 50


def test_unknown_cpu_is_a_clear_error():
    with pytest.raises(TargetError, match="unknown CPU 'pentium-ultra'"):
        named_target("pentium-ultra")


def test_unknown_cpu_from_the_environment_fails_cleanly():
    env = {**os.environ, "ODYSSEY_TARGET_CPU": "not-a-cpu"}
    out = subprocess.run([sys.executable, "-m", "odyssey_codegen.cli", "show", "sgd"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "unknown CPU 'not-a-cpu'" in out.stderr and "Traceback" not in out.stderr


def test_named_cpu_sets_the_vector_width():
    spec = load_spec_file("specs/optimizers/sgd.toml")
    flags = {"nesterov": False, "maximize": False, "use_momentum": False}
    # LLVM tunes Skylake-X for 256-bit vectors and Zen 4 for 512-bit ones
    assert vector_bits("skylake-avx512", "") == (256, 512)
    assert vector_bits("znver4", "") == (512, 512)
    skx = named_target("skylake-avx512")
    assert skx.vector_bits == 256 and skx.width("float32") == 8
    assert "ymm" in kernel_assembly(spec, flags, "float32", target=skx)
    avx512 = named_target("skylake-avx512", 512)
    assert avx512.width("float32") == 16 and avx512.width("float64") == 8
    assert "zmm" in kernel_assembly(spec, flags, "float32", target=avx512)
    old = named_target("core2")
    assert old.vector_bits == 128
    asm = kernel_assembly(spec, flags, "float32", target=old)
    assert "xmm" in asm and "ymm" not in asm


def test_compile_for_another_cpu_goes_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ODYSSEY_CACHE_DIR", str(tmp_path))
    spec = load_spec_file("specs/optimizers/lion.toml")
    # linking a core2 kernel is safe on any x86-64 host
    compile_kernel(spec, {}, "float64", target=named_target("core2"))
    assert len(list(tmp_path.glob("*.o"))) == 1


def test_simd_bits_override_is_validated(monkeypatch):
    monkeypatch.setenv("ODYSSEY_SIMD_BITS", "384")
    with pytest.raises(TargetError, match="ODYSSEY_SIMD_BITS"):
        named_target("znver3")
    monkeypatch.setenv("ODYSSEY_SIMD_BITS", "128")
    assert named_target("znver3").vector_bits == 128


def test_prefetch_distance_is_part_of_the_target(monkeypatch):
    spec = load_spec_file("specs/optimizers/adam.toml")
    flags = {"amsgrad": False, "maximize": False, "decoupled_weight_decay": False}
    default = named_target("znver2")
    assert default.prefetch_bytes == 512
    monkeypatch.setenv("ODYSSEY_PREFETCH_BYTES", "0")
    off = named_target("znver2")
    assert off.prefetch_bytes == 0 and off.key() != default.key()
    assert "prefetcht0\t512(" in kernel_assembly(spec, flags, "float32", target=default)
    assert "prefetch" not in kernel_assembly(spec, flags, "float32", target=off)
    for bad in ("100", "-64", "8192", "lots"):
        monkeypatch.setenv("ODYSSEY_PREFETCH_BYTES", bad)
        with pytest.raises(TargetError, match="ODYSSEY_PREFETCH_BYTES"):
            named_target("znver2")
