"""The contenders of one benchmark case, each a zero-argument ``step``.

Every contender owns its parameters and optimizer state; all of them read the
same gradient arrays (none writes them), except the torch clipping contender,
which scales its gradients in place and so gets its own copies.

Gradients come as a list of *sets* (each set: one array per tensor).  With
several sets, every contender's ``prepare()`` (run before each step, untimed)
plays the backward pass: it writes the next set in place (``x *= 1``: same
values, now hot in the cache, as freshly computed gradients are) and hands
those arrays to the contender, so each step sees new gradient arrays, as in a
training loop.  With one set the arrays never change.

* ``ours``             -- odyssey_training's optimizer (``num_threads`` threads)
* ``ours_clip``        -- the same with ``max_grad_norm`` (norm + fused scaling)
* ``roofline``         -- the same-traffic kernel (bench/roofline.py)
* ``limit``            -- the machine's limit kernel (bench/limit.py) over the same shapes
* ``numpy``            -- a NumPy reference step (in-place ufuncs, as one writes it)
* ``torch_foreach``    -- ``torch.optim.X(..., foreach=True)``
* ``torch_fused``      -- ``torch.optim.X(..., fused=True)`` where torch has it
* ``torch_clip_fused`` -- ``torch.nn.utils.clip_grad_norm_`` + fused AdamW
* ``deepspeed``        -- DeepSpeed's ``DeepSpeedCPUAdam`` when it is installed

torch and DeepSpeed are optional: without them their columns are skipped.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import odyssey_training as ot
from odyssey_training import optimizers as ours_mod
from odyssey_codegen.api import SpecProgram
from .roofline import roofline_class, traffic_bytes

__all__ = ["OPTIMIZERS", "Contender", "build", "memory_arrays", "available", "torch_variant_ok",
           "PARAM_SCALE", "traffic", "torch_version", "deepspeed_version"]

#: bench name -> (class name in odyssey_training and torch.optim, constructor kwargs)
OPTIMIZERS: dict[str, tuple[str, dict]] = {
    "sgd_momentum": ("SGD", {"lr": 1e-3, "momentum": 0.9}),
    "adam": ("Adam", {}),
    "adamw": ("AdamW", {}),
    "rmsprop": ("RMSprop", {}),
    "adagrad": ("Adagrad", {}),
}
#: state buffers per parameter for each bench optimizer (for memory planning)
STATE_BUFFERS = {"sgd_momentum": 1, "adam": 2, "adamw": 2, "rmsprop": 1, "adagrad": 1}
#: parameters start as PARAM_SCALE * gradient (cheap, deterministic, finite)
PARAM_SCALE = 20.0


@dataclass
class Contender:
    name: str
    step: Callable[[], None]
    keep: list = field(default_factory=list)   # objects that must live as long as the step
    prepare: Callable[[], None] = lambda: None  # untimed, before each step: the next grads


def _rotation(sets: list, assign: Callable[[list], None],
              arrays: list[list[np.ndarray]] | None = None) -> Callable[[], None]:
    """A ``prepare`` that writes the next gradient set (``arrays``: its NumPy
    memory, default ``sets``) and hands it to ``assign``, round-robin."""
    if len(sets) == 1:
        return lambda: None
    turn = itertools.count(1)
    arrays = arrays or sets

    def prepare() -> None:
        k = next(turn) % len(sets)
        for a in arrays[k]:
            np.multiply(a, 1, out=a)        # the backward pass just wrote it
        assign(sets[k])
    return prepare


def has_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


def has_deepspeed() -> bool:
    return importlib.util.find_spec("deepspeed") is not None


# ---- ours -----------------------------------------------------------------
def _ours(cls: type, kwargs: dict, sets: list[list[np.ndarray]], threads: int,
          **extra) -> Contender:
    params = [ot.Parameter(g * g.dtype.type(PARAM_SCALE), g) for g in sets[0]]
    opt = cls(params, num_threads=threads, **kwargs, **extra)

    def assign(grads: list[np.ndarray]) -> None:
        for p, g in zip(params, grads):
            p.grad = g
    return Contender("", opt.step, [opt, params], _rotation(sets, assign))


# ---- NumPy reference --------------------------------------------------------
def _numpy(name: str, kwargs: dict, sets: list[list[np.ndarray]]) -> Contender:
    """torch.optim's single-tensor algorithm written with in-place NumPy ufuncs."""
    grads = list(sets[0])                  # rotated in place by prepare()
    params = [g * g.dtype.type(PARAM_SCALE) for g in grads]
    zeros = [[np.zeros_like(g) for g in grads] for _ in range(STATE_BUFFERS[name])]
    count = [0]
    lr = kwargs.get("lr", 1e-2 if name in ("rmsprop", "adagrad") else 1e-3)

    def adam(decoupled: bool) -> None:
        count[0] += 1
        b1, b2, eps, wd = 0.9, 0.999, 1e-8, (1e-2 if decoupled else 0.0)
        bc1, bc2 = 1 - b1 ** count[0], 1 - b2 ** count[0]
        for p, g, m, v in zip(params, grads, *zeros):
            if decoupled:
                p *= 1 - lr * wd
            m += (g - m) * (1 - b1)
            v *= b2
            v += (1 - b2) * g * g
            denom = np.sqrt(v) / math.sqrt(bc2) + eps
            p -= (lr / bc1) * m / denom

    def sgd() -> None:
        count[0] += 1
        for p, g, buf in zip(params, grads, zeros[0]):
            if count[0] == 1:
                buf[...] = g
            else:
                buf *= 0.9
                buf += g
            p -= lr * buf

    def rmsprop() -> None:
        for p, g, sq in zip(params, grads, zeros[0]):
            sq *= 0.99
            sq += 0.01 * g * g
            p -= lr * g / (np.sqrt(sq) + 1e-8)

    def adagrad() -> None:
        for p, g, s in zip(params, grads, zeros[0]):
            s += g * g
            p -= lr * g / (np.sqrt(s) + 1e-10)

    steps = {"adam": lambda: adam(False), "adamw": lambda: adam(True), "sgd_momentum": sgd,
             "rmsprop": rmsprop, "adagrad": adagrad}
    return Contender("numpy", steps[name], [params, zeros],
                     _rotation(sets, lambda new: grads.__setitem__(slice(None), new)))


# ---- torch ------------------------------------------------------------------
def _torch_params(sets: list[list[np.ndarray]], own_grads: bool) -> tuple[list, Callable]:
    """torch parameters over copies of the first set, and the ``prepare`` that
    rotates their ``.grad`` through tensors sharing each set's memory (or copies)."""
    import torch

    arrays = [[g.copy() for g in grads] for grads in sets] if own_grads else sets
    grad_sets = [[torch.from_numpy(g) for g in grads] for grads in arrays]
    params = []
    for g, tg in zip(sets[0], grad_sets[0]):
        p = torch.from_numpy(g * g.dtype.type(PARAM_SCALE)).requires_grad_(True)
        p.grad = tg
        params.append(p)

    def assign(grads: list) -> None:
        for p, g in zip(params, grads):
            p.grad = g
    return params, _rotation(grad_sets, assign, arrays)


def _torch(name: str, kwargs: dict, sets: list[list[np.ndarray]], variant: str,
           max_norm: float | None = None) -> Contender:
    import torch

    cls = getattr(torch.optim, OPTIMIZERS[name][0])
    params, prepare = _torch_params(sets, own_grads=max_norm is not None)
    opt = cls(params, **kwargs, **{variant: True})
    if max_norm is None:
        return Contender("", opt.step, [opt, params], prepare)

    def step() -> None:
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        opt.step()
    return Contender("", step, [opt, params], prepare)


@functools.cache
def torch_variant_ok(name: str, dtype: str, variant: str) -> bool:
    """Whether torch.optim has ``variant`` (foreach/fused) for this optimizer and dtype on CPU."""
    if not has_torch():
        return False
    try:
        c = _torch(name, OPTIMIZERS[name][1], [[np.ones(8, dtype=dtype)]], variant)
        c.step()
        return True
    except (RuntimeError, TypeError, ValueError):
        return False


def _deepspeed(name: str, kwargs: dict, sets: list[list[np.ndarray]]) -> Contender:
    from deepspeed.ops.adam import DeepSpeedCPUAdam

    params, prepare = _torch_params(sets, own_grads=False)
    wd = kwargs.get("weight_decay", 1e-2 if name == "adamw" else 0.0)
    opt = DeepSpeedCPUAdam(params, lr=kwargs.get("lr", 1e-3), betas=(0.9, 0.999), eps=1e-8,
                           weight_decay=wd, adamw_mode=name == "adamw")
    return Contender("", opt.step, [opt, params], prepare)


def torch_version() -> str | None:
    if not has_torch():
        return None
    import torch
    return torch.__version__


def deepspeed_version() -> str | None:
    if not has_deepspeed():
        return None
    try:
        import deepspeed
        return deepspeed.__version__
    except Exception as exc:  # an installed but broken DeepSpeed is reported, not fatal
        return f"unusable: {type(exc).__name__}: {exc}"


# ---- planning and construction ------------------------------------------------
def traffic(name: str, n: int, itemsize: int) -> int:
    """Bytes one step of ``name``'s default variant moves over ``n`` values."""
    cls_name, kwargs = OPTIMIZERS[name]
    spec = getattr(ours_mod, cls_name).spec
    values = {h.name: h.default for h in spec.hypers} | kwargs
    return traffic_bytes(spec, SpecProgram(spec).flags(values), n, itemsize)


def available(name: str, dtype: str) -> list[str]:
    """The contenders this environment can run for ``name`` and ``dtype``."""
    out = ["ours", "roofline", "numpy"]
    out += [f"torch_{v}" for v in ("foreach", "fused") if torch_variant_ok(name, dtype, v)]
    if name == "adamw":
        out += ["ours_clip"]
        if torch_variant_ok(name, dtype, "fused"):
            out += ["torch_clip_fused"]
    if name in ("adam", "adamw") and has_deepspeed():
        out += ["deepspeed"]
    return out


def memory_arrays(name: str, contender: str) -> float:
    """Parameter-sized arrays a contender holds (its gradient copies and
    temporaries included; the shared gradients are counted once, elsewhere)."""
    own = 1 + STATE_BUFFERS[name]
    extra = {"numpy": 1.0, "torch_foreach": 2.0, "torch_clip_fused": 1.0}
    return own + extra.get(contender, 0.0)


def build(contender: str, name: str, grads: list[list[np.ndarray]], threads: int,
          max_norm: float, mem_limit: dict | None = None) -> Contender:
    """A ready contender (kernels compiled, state allocated by warm-up steps) over
    the gradient sets ``grads``; ``limit``: the machine's limit kernel ``mem_limit``
    (bench/limit.py) over the same shapes."""
    cls_name, kwargs = OPTIMIZERS[name]
    ours_cls = getattr(ours_mod, cls_name)
    if contender == "limit":
        from .limit import limit_contender
        params = [ot.Parameter(g * g.dtype.type(PARAM_SCALE), g) for g in grads[0]]
        opt = limit_contender(mem_limit, ours_cls, kwargs, params, threads)

        def assign(new: list[np.ndarray]) -> None:
            for p, g in zip(params, new):
                p.grad = g
        c = Contender("", opt.step, [opt, params], _rotation(grads, assign))
    elif contender == "ours":
        c = _ours(ours_cls, kwargs, grads, threads)
    elif contender == "ours_clip":
        c = _ours(ours_cls, kwargs, grads, threads, max_grad_norm=max_norm)
    elif contender == "roofline":
        c = _ours(roofline_class(ours_cls), kwargs, grads, threads)
    elif contender == "numpy":
        c = _numpy(name, kwargs, grads)
    elif contender in ("torch_foreach", "torch_fused"):
        c = _torch(name, kwargs, grads, contender.removeprefix("torch_"))
    elif contender == "torch_clip_fused":
        c = _torch(name, kwargs, grads, "fused", max_norm=max_norm)
    elif contender == "deepspeed":
        c = _deepspeed(name, kwargs, grads)
    else:
        raise ValueError(f"unknown contender {contender!r}")
    c.name = contender
    for _ in range(max(2, len(grads))):
        c.prepare()
        c.step()
    return c
