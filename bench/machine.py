"""The machine a benchmark ran on: model, LLVM's name for it, the vector
features that matter to the kernels, cores, memory, the code that ran, and
the key of its section in ``bench/RESULTS.md`` (one section per kind of machine)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import numpy as np

__all__ = ["machine_info", "git_state", "machine_key", "machine_kind", "FEATURES"]

#: CPU features shown in the machine's section (those the kernels can use)
FEATURES = ("sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512bf16",
            "avx512fp16", "amx-bf16", "amx-tile", "amx-int8")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    from odyssey_codegen.api import default_target
    from odyssey_codegen.target import vector_bits

    target = default_target()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        mem = next(int(line.split()[1]) * 1024 for line in
                   Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem = None
    have = {f.lstrip("+") for f in target.features.split(",") if f.startswith("+")}
    return {"cpu_model": _cpu_model(), "cores": usable, "cpu_count": os.cpu_count(),
            "memory_bytes": mem, "llvm_cpu": target.cpu, "simd_bits": target.vector_bits,
            "widest_bits": vector_bits(target.cpu, target.features)[1],
            "features": [f for f in FEATURES if f in have],
            "simd_bits_env": os.environ.get("ODYSSEY_SIMD_BITS"),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "odyssey_tune": os.environ.get("ODYSSEY_TUNE", "1"),
            "avx512": "avx512f" in have, "python": platform.python_version(),
            "numpy": np.__version__}


def machine_key(machine: dict) -> str:
    """One section of RESULTS.md per kind of machine: LLVM's CPU name and vector ISA."""
    isa = "avx512" if machine.get("avx512") else ("avx2" if "avx2" in machine.get(
        "features", ["avx2"]) else "sse")
    return f"{machine['llvm_cpu']}-{isa}"


def machine_kind(machine: dict) -> str:
    """The vector ISA in words, with the generation the features imply (a VM's CPU
    model name and LLVM's name from CPUID can both be generic or wrong)."""
    have = set(machine.get("features", []))
    if {"amx-tile", "avx512fp16"} <= have:
        return "AVX-512 + AMX (Sapphire Rapids class: AMX, AVX512-FP16, AVX512-BF16)"
    if "avx512f" in have:
        return "AVX-512"
    return "AVX2" if "avx2" in have else "SSE"


def git_state() -> str | None:
    """``<short commit>`` (``+dirty`` when tracked files differ), or None outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, text=True, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty.strip() else "")
