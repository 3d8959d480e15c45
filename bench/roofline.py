"""The same-traffic roofline: an optimizer whose kernel moves exactly the bytes
the real optimizer moves, with (almost) no arithmetic.

For a spec such as AdamW (reads p, g, exp_avg, exp_avg_sq; writes p,
exp_avg, exp_avg_sq) :func:`roofline_spec_text` keeps everything of the spec
-- hyperparameters, flags, state buffers and their ``when`` conditions, per-step
scalars, checks -- and replaces only the ``[update]`` statements by one
fused multiply-add per stored array::

    p          = p          + roofline_zero * g
    exp_avg    = exp_avg    + roofline_zero * g
    exp_avg_sq = exp_avg_sq + roofline_zero * g

``roofline_zero`` is a run-time hyperparameter (0.0), so LLVM cannot drop a
load or a store (``x + 0*g`` is not ``x`` for IEEE floats without fast-math),
and the arrays keep their values, so the benchmark can run it for ever.

Why this is a fair roofline: the kernel is compiled by the same codegen at the
same SIMD width, called through the same ``Optimizer.step`` -> multi-tensor
pointer table -> chunked rows -> thread pool, with the same per-step scalar
work in Python.  Loads, stores, dtypes, chunking and threading are identical,
so ``roofline time / optimizer time`` is the fraction of the step that is pure
data movement: 100 % means the update's arithmetic (divides, square roots,
selects) is completely hidden under memory traffic.  It is a bound for *this*
data layout (one pass, separate arrays), not the machine's STREAM peak; the
bench reports its effective GB/s beside it.
"""

from __future__ import annotations

import re

from odyssey_codegen.api import Spec, load_spec_text
from odyssey_codegen.ir import build_ir

__all__ = ["ZERO", "roofline_spec_text", "roofline_spec", "roofline_class", "traffic_bytes"]

#: the run-time scalar that keeps the roofline's arithmetic from being folded away
ZERO = "roofline_zero"


def _replace_update(source: str, statements: list[str]) -> str:
    """``source`` with its ``[update]`` table replaced by ``statements``."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "[update]")
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].startswith("[")), len(lines))
    body = ["[update]", "statements = ["] + [f'  "{s}",' for s in statements] + ["]"]
    return "\n".join(lines[:start] + body + lines[end:]) + "\n"


def roofline_spec_text(spec: Spec) -> str:
    """The spec text of ``spec``'s same-traffic kernel (see the module doc)."""
    statements = [f"p = p + {ZERO} * g"]
    for buf in spec.state:
        cond = f"   if {buf.when_text}" if buf.when is not None else ""
        statements.append(f"{buf.name} = {buf.name} + {ZERO} * g{cond}")
    text = _replace_update(spec.source, statements)
    text = re.sub(r'^name\s*=\s*"([A-Za-z_][A-Za-z0-9_]*)"', r'name = "\1Roofline"', text,
                  count=1, flags=re.M)
    text = re.sub(r"^\[hyper\]\s*$", f"[hyper]\n{ZERO} = {{ default = 0.0 }}", text,
                  count=1, flags=re.M)
    return text


def roofline_spec(spec: Spec) -> Spec:
    return load_spec_text(roofline_spec_text(spec), path=f"<roofline of {spec.path}>")


def roofline_class(optimizer_class: type) -> type:
    """An Optimizer subclass running ``optimizer_class``'s same-traffic kernel;
    it takes the same constructor arguments."""
    from odyssey_training.optimizers import Optimizer

    spec = roofline_spec(optimizer_class.spec)
    return type(spec.name, (Optimizer,), {"spec": spec, "__module__": __name__,
                                          "__doc__": f"Same-traffic roofline of {spec.name}."})


def traffic_bytes(spec: Spec, flags: dict[str, bool], numel: int, itemsize: int,
                  scale_grad: bool = False) -> int:
    """Bytes one step moves: every active buffer read and written, p read and
    written, g read (and read once more for the clipping norm)."""
    kir = build_ir(spec, flags, "float32")
    arrays_read = 2 + len(kir.states) + (1 if scale_grad else 0)
    arrays_written = len(kir.stores)
    return (arrays_read + arrays_written) * numel * itemsize
