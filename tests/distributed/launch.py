"""Launching ``mpiexec`` from the tests (skipped when the ``distributed`` extra is
not installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 90


def mpiexec() -> str:
    pytest.importorskip("mpi4py", reason="the distributed extra (mpi4py, mpich) is not installed")
    local = Path(sys.executable).parent / "mpiexec"
    found = str(local) if local.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec (pip install 'odyssey-training[distributed]' brings one)")
    return found


def run(ranks: int, *args: str, env: dict[str, str] | None = None,
        launcher: list[str] | None = None, check: bool = True,
        timeout: float = TIMEOUT) -> tuple[subprocess.CompletedProcess, float]:
    """``mpiexec -n RANKS python -m tests.distributed.job ARGS`` (or ``python LAUNCHER``)
    from the repository root, one kernel thread per rank; (result, seconds)."""
    command = [mpiexec(), "-n", str(ranks), sys.executable,
               *(launcher or ["-m", "tests.distributed.job"]), *map(str, args)]
    full_env = {**os.environ, "ODYSSEY_NUM_THREADS": "1", **(env or {})}
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=full_env, capture_output=True, text=True,
                            timeout=timeout)
    seconds = time.perf_counter() - start
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result, seconds
