"""The compilation target: one frozen tuple (triple, CPU, features, SIMD width
preference, versions) whose :meth:`Target.key` goes into every cache key.

Environment variables are read here and nowhere else in codegen:

* ``ODYSSEY_TARGET_CPU`` — compile for a named CPU instead of the host
  (validated against LLVM's list of CPUs; unknown names are an error);
* ``ODYSSEY_SIMD_BITS`` — vector width to use (128/256/512) instead of the
  width LLVM prefers for the CPU (see :func:`vector_bits`);
* ``ODYSSEY_PREFETCH_BYTES`` — how far ahead the update loops prefetch each
  array they read (a multiple of 64 up to 4096; 0 = no software prefetch;
  default :data:`DEFAULT_PREFETCH_BYTES`, see :mod:`odyssey_codegen.lower.optimizer`);
* ``ODYSSEY_CACHE_DIR`` / ``XDG_CACHE_HOME`` — see :mod:`odyssey_codegen.cache`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass

import llvmlite
import llvmlite.binding as llvm

from . import cache

__all__ = ["Target", "host_target", "named_target", "default_target", "known_cpus",
           "TargetError", "CODEGEN_VERSION", "simd_bits_from_env"]

#: bump when lowering changes in a way that changes object code
CODEGEN_VERSION = "2"
#: software prefetch distance of the update loops, in bytes (measured: bench/ablate.py)
DEFAULT_PREFETCH_BYTES = 512


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


_PROBE_LOOP = """
define void @probe(ptr noalias %a, ptr noalias %b, i64 %n) {
entry:
  br label %loop
loop:
  %i = phi i64 [0, %entry], [%next, %loop]
  %pb = getelementptr float, ptr %b, i64 %i
  %x = load float, ptr %pb
  %y = fmul float %x, 3.0
  %pa = getelementptr float, ptr %a, i64 %i
  store float %y, ptr %pa
  %next = add i64 %i, 1
  %more = icmp slt i64 %next, %n
  br i1 %more, label %loop, label %exit
exit:
  ret void
}
"""
_PROBE_WIDE = ("define <16 x float> @probe(<16 x float> %a) {\n"
               "  %b = fadd <16 x float> %a, %a\n  ret <16 x float> %b\n}\n")


def _register_bits(asm: str) -> int:
    return 512 if "zmm" in asm else 256 if "ymm" in asm else 128


@functools.cache
def vector_bits(cpu: str, features: str) -> tuple[int, int]:
    """(preferred, widest) vector register bits for a CPU.  Preferred is the
    width LLVM's own loop vectorizer picks for it (e.g. 256 on Intel AVX-512
    parts tuned "prefer-256-bit", 512 on Zen 4), read off the code it emits for a
    probe loop; widest is what an explicit 512-bit operation is lowered to.
    The answer is kept in the kernel cache (two numbers), so a warm start
    compiles nothing."""
    key = hashlib.sha256("|".join(("vector_bits", cpu, features, *_versions(),
                                   CODEGEN_VERSION)).encode()).hexdigest()
    stored = cache.read(key, ".facts")
    if stored is not None:
        text = stored.decode("ascii", "replace").split()
        if len(text) == 2 and all(t in ("128", "256", "512") for t in text):
            return int(text[0]), int(text[1])
    bits = _probe_vector_bits(cpu, features)
    try:
        cache.write(key, f"{bits[0]} {bits[1]}".encode("ascii"), ".facts")
    except OSError:
        pass
    return bits


def _probe_vector_bits(cpu: str, features: str) -> tuple[int, int]:
    _init_llvm()
    machine = llvm.Target.from_triple(llvm.get_process_triple()).create_target_machine(
        cpu=cpu, features=features, opt=3)
    loop = llvm.parse_assembly(_PROBE_LOOP)
    builder = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(speed_level=3))
    builder.getModulePassManager().run(loop, builder)
    preferred = _register_bits(machine.emit_assembly(loop))
    widest = _register_bits(machine.emit_assembly(llvm.parse_assembly(_PROBE_WIDE)))
    return preferred, widest


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
    prefetch_bytes: int = DEFAULT_PREFETCH_BYTES

    def key(self) -> str:
        return "|".join((self.triple, self.cpu, self.features, str(self.vector_bits),
                         self.llvm_version, self.llvmlite_version, self.codegen_version,
                         f"prefetch={self.prefetch_bytes}"))

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


def simd_bits_from_env() -> bool:
    """Whether ``ODYSSEY_SIMD_BITS`` sets the width of targets made without explicit bits."""
    return bool(os.environ.get("ODYSSEY_SIMD_BITS"))


def _bits_override(default: int) -> int:
    text = os.environ.get("ODYSSEY_SIMD_BITS", "")
    if not text:
        return default
    if text not in ("128", "256", "512"):
        raise TargetError(f"ODYSSEY_SIMD_BITS={text!r} (expected 128, 256 or 512)")
    return int(text)


def _prefetch_override() -> int:
    text = os.environ.get("ODYSSEY_PREFETCH_BYTES", "")
    if not text:
        return DEFAULT_PREFETCH_BYTES
    if not text.isdigit() or int(text) % 64 or int(text) > 4096:
        raise TargetError(f"ODYSSEY_PREFETCH_BYTES={text!r} (expected a multiple of 64 "
                          "from 0 to 4096)")
    return int(text)


def host_target(vector_bits_: int | None = None) -> Target:
    """The CPU this process runs on, with its full feature string."""
    _init_llvm()
    cpu, features = llvm.get_host_cpu_name(), _host_features()
    bits = vector_bits_ or _bits_override(vector_bits(cpu, features)[0])
    return Target(llvm.get_process_triple(), cpu, features, bits, *_versions(),
                  prefetch_bytes=_prefetch_override())


def named_target(cpu: str, vector_bits_: int | None = None) -> Target:
    """A target for the CPU ``cpu`` (an LLVM CPU name, e.g. ``skylake-avx512``)."""
    _init_llvm()
    if cpu == "host":
        return host_target(vector_bits_)
    if cpu not in known_cpus():
        close = [c for c in known_cpus() if c.startswith(cpu[:4])][:8]
        hint = f"; similar: {', '.join(close)}" if close else ""
        raise TargetError(f"unknown CPU {cpu!r} for {llvm.get_process_triple()}{hint} "
                          f"(see `odyssey-codegen kernels --cpu help`)")
    bits = vector_bits_ or _bits_override(vector_bits(cpu, "")[0])
    return Target(llvm.get_process_triple(), cpu, "", bits, *_versions(),
                  prefetch_bytes=_prefetch_override())


@functools.cache
def default_target() -> Target:
    """``ODYSSEY_TARGET_CPU`` when set, else the host."""
    cpu = os.environ.get("ODYSSEY_TARGET_CPU", "")
    return named_target(cpu) if cpu else host_target()
