"""Cold compile and warm start, each measured in a fresh subprocess.

* cold: an empty ``ODYSSEY_CACHE_DIR``; compile the default variant of every
  standard optimizer spec at float32 (and the gradient-norm reduction) --
  the time of the compile calls, and the kernels compiled.
* warm: a full cache; ``import odyssey_training`` + build AdamW over LeNet-5
  shapes + the first ``step()`` -- wall time from before the import to after
  the step (the interpreter's own start-up is reported beside it), and the
  number of kernels compiled in that process (must be 0).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["STANDARD", "cold_compile", "warm_start", "measure"]

STANDARD = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Lion")
ROOT = Path(__file__).resolve().parent.parent

_COLD = """
import json, sys, time
t0 = time.perf_counter()
from odyssey_codegen import api
from odyssey_training import optimizers
t1 = time.perf_counter()
names = sys.argv[1].split(",")
for name in names:
    spec = getattr(optimizers, name).spec
    values = {h.name: h.default for h in spec.hypers}
    api.compile_kernel(spec, api.SpecProgram(spec).flags(values), "float32")
if sys.argv[2] == "1":
    api.compile_sumsq("float32")
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "compile_s": t2 - t1, **api.STATS}))
"""

_WARM = """
import time
t0 = time.perf_counter()
import numpy as np
t1 = time.perf_counter()
import odyssey_training as ot
from odyssey_training.optimizers import AdamW
t2 = time.perf_counter()
shapes = SHAPES
params = [ot.Parameter(np.full(s, 0.1, np.float32), np.full(s, 1e-3, np.float32))
          for s in shapes]
opt = AdamW(params)
t3 = time.perf_counter()
opt.step()
t4 = time.perf_counter()
import json
from odyssey_codegen.api import STATS
print(json.dumps({"import_and_first_step_s": t4 - t0, "numpy_import_s": t1 - t0,
                  "odyssey_import_s": t2 - t1, "construct_s": t3 - t2, "first_step_s": t4 - t3,
                  **STATS}))
"""


def _warm_code() -> str:
    from .shapes import lenet5
    return _WARM.replace("SHAPES", repr([s for _, s in lenet5()]))


def _run(code: str, args: list[str], cache: str) -> tuple[dict, float]:
    env = dict(os.environ, ODYSSEY_CACHE_DIR=cache)
    env.pop("ODYSSEY_VERIFY_IR", None)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"startup subprocess failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def cold_compile(names: tuple[str, ...] = STANDARD, sumsq: bool = True) -> dict:
    """Compile ``names``' default float32 kernels into an empty cache."""
    with tempfile.TemporaryDirectory(prefix="odyssey-bench-cold-") as cache:
        info, wall = _run(_COLD, [",".join(names), "1" if sumsq else "0"], cache)
    return {**info, "process_wall_s": wall, "kernels": list(names) + (["sumsq"] if sumsq else [])}


def warm_start(repeats: int = 5) -> dict:
    """Median over ``repeats`` fresh processes with a full cache."""
    with tempfile.TemporaryDirectory(prefix="odyssey-bench-warm-") as cache:
        code = _warm_code()
        _run(code, [], cache)             # fill the cache
        runs = [_run(code, [], cache) for _ in range(repeats)]
    steps = sorted(r["import_and_first_step_s"] for r, _ in runs)
    walls = sorted(w for _, w in runs)
    parts = {k: sorted(r[k] for r, _ in runs)[len(runs) // 2]
             for k in ("numpy_import_s", "odyssey_import_s", "construct_s", "first_step_s")}
    return {"import_and_first_step_s": steps[len(steps) // 2], "parts_median_s": parts,
            "process_wall_s": walls[len(walls) // 2], "repeats": repeats,
            "compiled": max(r["compiled"] for r, _ in runs),
            "linked": max(r["linked"] for r, _ in runs)}


def measure(quick: bool = False) -> dict:
    cold = [cold_compile() for _ in range(1 if quick else 3)]
    cold.sort(key=lambda r: r["compile_s"])
    return {"cold": cold[len(cold) // 2], "cold_runs_s": [r["compile_s"] for r in cold],
            "warm": warm_start(3 if quick else 7)}
