"""The compilation target: one frozen tuple (triple, CPU, features, SIMD width
preference, versions) whose :meth:`Target.key` goes into every cache key.

Environment variables are read here and nowhere else in codegen:

* ``ODYSSEY_TARGET_CPU`` — compile for a named CPU instead of the host
  (validated against LLVM's list of CPUs; unknown names are an error);
* ``ODYSSEY_SIMD_BITS`` — preferred vector register width (128/256/512);
* ``ODYSSEY_CACHE_DIR`` / ``XDG_CACHE_HOME`` — see :mod:`codegen.cache`.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from dataclasses import dataclass

import llvmlite
import llvmlite.binding as llvm

__all__ = ["Target", "host_target", "named_target", "default_target", "known_cpus",
           "TargetError", "CODEGEN_VERSION"]

#: bump when lowering changes in a way that changes object code
CODEGEN_VERSION = "1"


class TargetError(ValueError):
    """An unknown CPU name or an impossible SIMD width."""


@functools.cache
def _init_llvm() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


def _capture_stderr(fn):
    """Run ``fn`` with C-level stderr captured (LLVM prints CPU lists there)."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            result = fn()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return result, tmp.read().decode(errors="replace")


@functools.cache
def known_cpus(triple: str | None = None) -> tuple[str, ...]:
    """CPU names LLVM knows for ``triple`` (default: this process's triple)."""
    _init_llvm()
    target = llvm.Target.from_triple(triple or llvm.get_process_triple())
    _, text = _capture_stderr(lambda: target.create_target_machine(cpu="help"))
    names = []
    in_cpus = False
    for line in text.splitlines():
        if line.startswith("Available CPUs"):
            in_cpus = True
        elif line.startswith("Available features"):
            break
        elif in_cpus:
            match = re.match(r"\s+([A-Za-z0-9_.+-]+)\s+-", line)
            if match:
                names.append(match.group(1))
    return tuple(names)


def _vector_bits(features: str, cpu: str) -> int:
    """Widest vector register the target has: from features, else from the CPU name."""
    enabled = {f[1:] for f in features.split(",") if f.startswith("+")}
    if not features:  # a named CPU: ask LLVM which features it implies
        enabled = _cpu_features(cpu)
    if "avx512f" in enabled:
        return 512
    if "avx" in enabled or "avx2" in enabled:
        return 256
    return 128


@functools.cache
def _cpu_features(cpu: str) -> frozenset[str]:
    """Features a named CPU implies, read from the assembly LLVM writes for it."""
    _init_llvm()
    tm = llvm.Target.from_triple(llvm.get_process_triple()).create_target_machine(cpu=cpu)
    mod = llvm.parse_assembly(
        "define <16 x float> @f(<16 x float> %a) { %b = fadd <16 x float> %a, %a\n"
        "ret <16 x float> %b }")
    asm = tm.emit_assembly(mod)
    if "zmm" in asm:
        return frozenset({"avx512f", "avx", "avx2"})
    if "ymm" in asm:
        return frozenset({"avx"})
    return frozenset()


@dataclass(frozen=True)
class Target:
    """Everything that determines the object code besides the kernel itself."""
    triple: str
    cpu: str
    features: str
    vector_bits: int
    llvm_version: str
    llvmlite_version: str
    codegen_version: str = CODEGEN_VERSION

    def key(self) -> str:
        return "|".join((self.triple, self.cpu, self.features, str(self.vector_bits),
                         self.llvm_version, self.llvmlite_version, self.codegen_version))

    def width(self, dtype: str) -> int:
        """Default SIMD width in elements of ``dtype``."""
        return self.vector_bits // (32 if dtype == "float32" else 64)

    def is_host(self) -> bool:
        _init_llvm()
        return self.cpu == llvm.get_host_cpu_name() and self.features == _host_features()

    def machine(self) -> "llvm.TargetMachine":
        _init_llvm()
        target = llvm.Target.from_triple(self.triple)
        return target.create_target_machine(cpu=self.cpu, features=self.features, opt=3,
                                            reloc="pic", codemodel="default", jit=False)


@functools.cache
def _host_features() -> str:
    _init_llvm()
    return llvm.get_host_cpu_features().flatten()


def _versions() -> tuple[str, str]:
    return ".".join(map(str, llvm.llvm_version_info)), llvmlite.__version__


def _bits_override(default: int) -> int:
    text = os.environ.get("ODYSSEY_SIMD_BITS", "")
    if not text:
        return default
    if text not in ("128", "256", "512"):
        raise TargetError(f"ODYSSEY_SIMD_BITS={text!r} (expected 128, 256 or 512)")
    return int(text)


def host_target(vector_bits: int | None = None) -> Target:
    """The CPU this process runs on, with its full feature string."""
    _init_llvm()
    cpu, features = llvm.get_host_cpu_name(), _host_features()
    bits = vector_bits or _bits_override(_vector_bits(features, cpu))
    return Target(llvm.get_process_triple(), cpu, features, bits, *_versions())


def named_target(cpu: str, vector_bits: int | None = None) -> Target:
    """A target for the CPU ``cpu`` (an LLVM CPU name, e.g. ``skylake-avx512``)."""
    _init_llvm()
    if cpu == "host":
        return host_target(vector_bits)
    if cpu not in known_cpus():
        close = [c for c in known_cpus() if c.startswith(cpu[:4])][:8]
        hint = f"; similar: {', '.join(close)}" if close else ""
        raise TargetError(f"unknown CPU {cpu!r} for {llvm.get_process_triple()}{hint} "
                          f"(see `odyssey-codegen kernels --cpu help`)")
    bits = vector_bits or _bits_override(_vector_bits("", cpu))
    return Target(llvm.get_process_triple(), cpu, "", bits, *_versions())


@functools.cache
def default_target() -> Target:
    """``ODYSSEY_TARGET_CPU`` when set, else the host."""
    cpu = os.environ.get("ODYSSEY_TARGET_CPU", "")
    return named_target(cpu) if cpu else host_target()
