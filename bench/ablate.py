"""Where does an optimizer's step lose to its roofline?  Ablations, interleaved.

Each configuration (SIMD width, prefetch distance, threads) runs in its own
subprocess (``ODYSSEY_SIMD_BITS`` is read once per process, and pins the default
kernel shape: nothing is tuned); inside it, ours,
the same-traffic roofline, torch fused (the common yardstick across processes)
and spec variants of the update with less arithmetic run interleaved:

* ``recip``  -- ``sqrt(v) * (1/sqrt(bc2))``: one divide fewer per element
* ``nodiv``  -- no divide at all (``exp_avg * sqrt(v)``), sqrt kept
* ``nosqrt`` -- no square root (``exp_avg / (v + eps)``), divide kept

The variants are not optimizers anyone should use; they only say how much
each instruction costs inside the real memory-bound loop.

    python -m bench.ablate --shapes gpt2 --threads 1 2 --simd-bits 256 512
    python -m bench.ablate --shapes gpt2 --threads 1 2 --prefetch 0 256 512 1024

``--prefetch`` compiles every kernel of a child (ours, the roofline, the
variants) with ``ODYSSEY_PREFETCH_BYTES`` set to each value; compare across
children against torch fused (the same in every child), since a prefetch
distance that slows the roofline down flatters ours/roofline.

``--norm`` instead times the gradient-norm pass of ``max_grad_norm`` with the
sum-of-squares kernel compiled at several widths (more lanes = more independent
float64 accumulator chains), against a NumPy read pass (``x.max()``) as the
read-bandwidth yardstick, interleaved in one process.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys

import numpy as np

__all__ = ["VARIANTS", "variant_class", "main"]

_ADAMW_LAST = "p = p - (lr / bc1) * (exp_avg / (sqrt(v) / sqrt(bc2) + eps))"
VARIANTS = {
    "recip": "p = p - (lr / bc1) * (exp_avg / (sqrt(v) * (1 / sqrt(bc2)) + eps))",
    "nodiv": "p = p - (lr / bc1) * (exp_avg * (sqrt(v) * (1 / sqrt(bc2)) + eps))",
    "nosqrt": "p = p - (lr / bc1) * (exp_avg / (v + eps))",
}


def variant_class(name: str) -> type:
    """AdamW with its last statement replaced by ``VARIANTS[name]``."""
    from odyssey_codegen.api import load_spec_text
    from odyssey_training.optimizers import AdamW, Optimizer

    source = AdamW.spec.source
    if _ADAMW_LAST not in source:
        raise RuntimeError("the AdamW spec changed; update bench/ablate.py's variants")
    text = source.replace(_ADAMW_LAST, VARIANTS[name]).replace('name = "AdamW"',
                                                               f'name = "AdamW_{name}"')
    spec = load_spec_text(text, path=f"<ablation {name}>")
    return type(spec.name, (Optimizer,), {"spec": spec, "__module__": __name__})


def _child(shapes: str, threads: int, seconds: float) -> dict:
    from . import contenders as C
    from .optim import _time_group, make_grads

    grads = make_grads(shapes, "float32")
    if C.has_torch():
        import torch
        torch.set_num_threads(threads)
    items = [C.build(name, "adamw", [grads], threads, 1.0) for name in
             ["ours", "roofline"] + (["torch_fused"] if C.has_torch() else [])]
    for name in VARIANTS:
        params = [__import__("odyssey_training").Parameter(g * np.float32(20), g) for g in grads]
        opt = variant_class(name)(params, num_threads=threads)
        opt.step()
        items.append(C.Contender(name, opt.step, [opt, params]))
    times = _time_group(items, (5, 30, seconds), np.random.default_rng(0))
    from odyssey_codegen.api import default_target
    return {"simd_bits": default_target().vector_bits, "threads": threads,
            "prefetch": default_target().prefetch_bytes,
            "median_ms": {k: float(np.median(v)) * 1e3 for k, v in times.items()},
            "rounds": len(times["ours"])}


def _norms(shapes: str, threads: list[int], widths: list[int], seconds: float) -> list[dict]:
    import functools

    from odyssey_codegen import api
    from odyssey_training import clip
    from . import contenders as C
    from .optim import _time_group, make_grads

    grads = make_grads(shapes, "float32")
    rows = []
    for t in threads:
        items = [C.Contender("numpy_max_pass", lambda: [g.max() for g in grads])]
        for width in widths:
            plan = clip.GradNormPlan()
            real = clip.compile_sumsq
            clip.compile_sumsq = functools.partial(api.compile_sumsq, width=width)
            try:
                plan(grads, t)
            finally:
                clip.compile_sumsq = real
            items.append(C.Contender(f"sumsq_w{width}", functools.partial(plan, grads, t)))
        times = _time_group(items, (5, 50, seconds), np.random.default_rng(0))
        nbytes = sum(g.nbytes for g in grads)
        med = {k: float(np.median(v)) for k, v in times.items()}
        rows.append({"threads": t, "median_ms": {k: v * 1e3 for k, v in med.items()},
                     "gbps": {k: nbytes / v / 1e9 for k, v in med.items()}})
        print(f"norm t{t}: " + "  ".join(f"{k} {v * 1e3:.1f} ms ({nbytes / v / 1e9:.1f} GB/s)"
                                         for k, v in med.items()), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ablate", description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", default="gpt2")
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--simd-bits", nargs="+", default=["native"])
    ap.add_argument("--prefetch", nargs="+", default=["default"],
                    help="ODYSSEY_PREFETCH_BYTES values (bytes ahead; 0 = no prefetch)")
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--norm", action="store_true", help="time the gradient-norm pass instead")
    ap.add_argument("--widths", nargs="+", type=int, default=[8, 16, 32],
                    help="with --norm: sum-of-squares kernel widths (elements)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.norm:
        print(json.dumps(_norms(args.shapes, args.threads, args.widths, args.seconds)))
        return 0
    if args.child:
        shapes, threads = args.child
        print(json.dumps(_child(shapes, int(threads), args.seconds)))
        return 0
    rows = []
    for bits, prefetch, threads in itertools.product(args.simd_bits, args.prefetch,
                                                     args.threads):
        env = dict(os.environ)
        for name, value, unset in (("ODYSSEY_SIMD_BITS", bits, "native"),
                                   ("ODYSSEY_PREFETCH_BYTES", prefetch, "default")):
            env.pop(name, None)
            if value != unset:
                env[name] = value
        cmd = [sys.executable, "-m", "bench.ablate", "--seconds", str(args.seconds),
               "--child", args.shapes, str(threads)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        m = row["median_ms"]
        rel = "  ".join(f"{k} {v:.1f} ({m['roofline'] / v:.0%})" for k, v in m.items())
        print(f"simd {row['simd_bits']} prefetch {row['prefetch']} "
              f"t{threads}: {rel}", flush=True)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
