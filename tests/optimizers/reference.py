"""Independent pure-NumPy reference implementations of the standard optimizers.

Written from the published algorithms as documented by ``torch.optim``
(single-tensor path, ``foreach=False``) and, for Lion, from Chen et al. 2023 /
lucidrains' ``lion-pytorch`` -- never from a spec file of this project.

Arithmetic happens in the parameter's dtype, as torch does on CPU: per-step
scalars (``lr``, bias corrections, decayed learning rates) are Python floats
(double precision) that are rounded to the array dtype when they are applied.
Operation order follows torch's kernels (``addcmul``: ``self + (value*t1)*t2``,
``addcdiv``: ``self + (value*t1)/t2``, ``lerp`` with its two branches), so the
only expected differences to torch or to a compiled kernel are a few ulps per
step from FMA contraction.

State layout mirrors ``torch.optim``'s per-parameter state exactly: ``state``
is a dict from a parameter's position in its group to a dict of buffers named
as torch names them (``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``,
``max_exp_avg_sq``, ``square_avg``, ``grad_avg``, ``sum``) plus ``step`` (an
int) where torch keeps one.  Lion keeps only ``exp_avg`` (lucidrains).

The second half of this module holds the shared test support: the flag/hyper
cases every implementation is checked on, hyperparameter ranges, data
generation and the comparison helper.
"""

from __future__ import annotations

import math
import weakref
from typing import Callable

import numpy as np

# ---------------------------------------------------------------------------
# torch.optim defaults (Lion: lucidrains' defaults)
# ---------------------------------------------------------------------------

DEFAULTS: dict[str, dict] = {
    "SGD": dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                nesterov=False, maximize=False),
    "Adam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False, decoupled_weight_decay=False),
    "AdamW": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                  amsgrad=False, maximize=False),
    "RMSprop": dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                    centered=False, maximize=False),
    "Adagrad": dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                    initial_accumulator_value=0.0, eps=1e-10, maximize=False),
    "Lion": dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0),
}

# Buffer names torch keeps per parameter, given the hyperparameters.
def buffer_names(name: str, hyper: dict) -> set[str]:
    h = full_hyper(name, hyper)
    if name == "SGD":
        return {"momentum_buffer"} if h["momentum"] != 0 else set()
    if name in ("Adam", "AdamW"):
        return {"exp_avg", "exp_avg_sq"} | ({"max_exp_avg_sq"} if h["amsgrad"] else set())
    if name == "RMSprop":
        names = {"square_avg"}
        if h["momentum"] > 0:
            names.add("momentum_buffer")
        if h["centered"]:
            names.add("grad_avg")
        return names
    if name == "Adagrad":
        return {"sum"}
    if name == "Lion":
        return {"exp_avg"}
    raise KeyError(name)


def has_step(name: str) -> bool:
    """Whether torch (lucidrains for Lion) keeps a ``step`` count in the state."""
    return name in ("Adam", "AdamW", "RMSprop", "Adagrad")


def full_hyper(name: str, hyper: dict) -> dict:
    """Defaults overlaid with ``hyper`` (torch spellings only)."""
    unknown = set(hyper) - set(DEFAULTS[name])
    if unknown:
        raise KeyError(f"{name}: unknown hyperparameters {sorted(unknown)}")
    return {**DEFAULTS[name], **hyper}


# ---------------------------------------------------------------------------
# Elementwise helpers with torch's operation order
# ---------------------------------------------------------------------------

def _lerp(start, end, weight: float, dt):
    """torch.lerp: ``start + w*(end-start)`` if |w| < 0.5 else ``end - (end-start)*(1-w)``."""
    w = dt(weight)
    if abs(w) < 0.5:
        return start + w * (end - start)
    return end - (end - start) * (dt(1) - w)


def _new_buffer(like, value=0.0):
    return np.full(np.shape(like), value, dtype=np.asarray(like).dtype)


# ---------------------------------------------------------------------------
# One step of one parameter, per algorithm.  ``p`` is updated in place.
# Each returns the slack (absolute disagreement that rounding may legitimately
# cause, see Lion) or None.
# ---------------------------------------------------------------------------

def _sgd(p, g, st, h):
    dt = p.dtype.type
    if h["maximize"]:
        g = -g
    if h["weight_decay"] != 0:
        g = g + dt(h["weight_decay"]) * p
    momentum = h["momentum"]
    if momentum != 0:
        buf = st.get("momentum_buffer")
        if buf is None:
            # first step: the buffer is the (negated, decayed) gradient itself
            buf = np.array(g, dtype=p.dtype, copy=True)
            st["momentum_buffer"] = buf
        else:
            buf[...] = buf * dt(momentum) + dt(1 - h["dampening"]) * g
        if h["nesterov"]:
            g = g + dt(momentum) * buf
        else:
            g = buf
    p[...] = p + dt(-h["lr"]) * g
    return None


def _adam(p, g, st, h, decoupled: bool):
    dt = p.dtype.type
    if not st:
        st["step"] = 0
        st["exp_avg"] = _new_buffer(p)
        st["exp_avg_sq"] = _new_buffer(p)
        if h["amsgrad"]:
            st["max_exp_avg_sq"] = _new_buffer(p)
    beta1, beta2 = h["betas"]
    lr, wd = h["lr"], h["weight_decay"]
    st["step"] += 1
    step = st["step"]
    if h["maximize"]:
        g = -g
    if wd != 0:
        if decoupled:
            p[...] = p * dt(1 - lr * wd)
        else:
            g = g + dt(wd) * p
    m, v = st["exp_avg"], st["exp_avg_sq"]
    m[...] = _lerp(m, g, 1 - beta1, dt)
    v[...] = v * dt(beta2) + dt(1 - beta2) * g * g
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2 ** 0.5
    if h["amsgrad"]:
        vmax = st["max_exp_avg_sq"]
        vmax[...] = np.maximum(vmax, v)
        v = vmax
    denom = np.sqrt(v) / dt(bias_correction2_sqrt) + dt(h["eps"])
    p[...] = p + dt(-step_size) * m / denom
    return None


def _rmsprop(p, g, st, h):
    dt = p.dtype.type
    if not st:
        st["step"] = 0
        st["square_avg"] = _new_buffer(p)
        if h["momentum"] > 0:
            st["momentum_buffer"] = _new_buffer(p)
        if h["centered"]:
            st["grad_avg"] = _new_buffer(p)
    alpha = h["alpha"]
    st["step"] += 1
    if h["maximize"]:
        g = -g
    if h["weight_decay"] != 0:
        g = g + dt(h["weight_decay"]) * p
    sq = st["square_avg"]
    sq[...] = sq * dt(alpha) + dt(1 - alpha) * g * g
    if h["centered"]:
        ga = st["grad_avg"]
        ga[...] = _lerp(ga, g, 1 - alpha, dt)
        avg = np.sqrt(sq + dt(-1) * ga * ga)
    else:
        avg = np.sqrt(sq)
    avg = avg + dt(h["eps"])
    # centered: sq - ga*ga cancels when the gradient varies little against its mean, and
    # an equally valid evaluation (an FMA for ga*ga) differs by rounding of sq and ga*ga
    noise = _centered_noise(g, sq, ga, avg) if h["centered"] else None
    if h["momentum"] > 0:
        buf = st["momentum_buffer"]
        buf[...] = buf * dt(h["momentum"]) + dt(1) * g / avg
        p[...] = p + dt(-h["lr"]) * buf
        if noise is None:
            return None
        held = _BUFFER_SLACK.get(id(buf))
        before = held[1] if held is not None and held[0]() is buf else 0.0
        carried = h["momentum"] * before + noise
        _BUFFER_SLACK[id(buf)] = (weakref.ref(buf), carried)
        return h["lr"] * carried
    p[...] = p + dt(-h["lr"]) * g / avg
    return None if noise is None else h["lr"] * noise


#: id(momentum buffer) -> (weakref to it, the disagreement rounding may have built up
#: in it): see :func:`buffer_slack`
_BUFFER_SLACK: dict[int, tuple] = {}


def _centered_noise(g, sq, ga, avg) -> np.ndarray:
    """How far ``g / avg`` may legitimately differ in centered RMSprop: the
    difference ``sq - ga*ga`` is known to a few ulps of its operands (4 here), which
    is a large relative error when they nearly cancel; first order in ``avg``,
    doubled for safety."""
    eps = float(np.finfo(sq.dtype).eps)
    sq64, ga64 = sq.astype(np.float64), ga.astype(np.float64)
    err = 4 * eps * (np.abs(sq64) + ga64 * ga64)
    d = np.maximum(sq64 - ga64 * ga64, 0.0)
    root = np.sqrt(d)
    d_avg = np.where(root * root > err, err / (2 * np.maximum(root, 1e-300)), np.sqrt(err))
    a = avg.astype(np.float64)
    return 2 * np.abs(g.astype(np.float64)) * d_avg / np.maximum(a * (a - np.minimum(d_avg, a / 2)),
                                                                   1e-300)


def buffer_slack(buffer: np.ndarray) -> np.ndarray | None:
    """The absolute disagreement rounding may have built up in a reference state
    buffer (centered RMSprop's momentum buffer), or None."""
    held = _BUFFER_SLACK.get(id(buffer))
    return held[1] if held is not None and held[0]() is buffer else None


def _adagrad(p, g, st, h):
    dt = p.dtype.type
    if not st:
        st["step"] = 0
        st["sum"] = _new_buffer(p, h["initial_accumulator_value"])
    st["step"] += 1
    step = st["step"]
    if h["maximize"]:
        g = -g
    if h["weight_decay"] != 0:
        g = g + dt(h["weight_decay"]) * p
    clr = h["lr"] / (1 + (step - 1) * h["lr_decay"])
    s = st["sum"]
    s[...] = s + dt(1) * g * g
    std = np.sqrt(s) + dt(h["eps"])
    p[...] = p + dt(-clr) * g / std
    return None


def _lion(p, g, st, h):
    dt = p.dtype.type
    if not st:
        st["exp_avg"] = _new_buffer(p)
    beta1, beta2 = h["betas"]
    lr, wd = h["lr"], h["weight_decay"]
    m = st["exp_avg"]
    if wd != 0:
        p[...] = p * dt(1 - lr * wd)
    a = m * dt(beta1)
    b = dt(1 - beta1) * g
    c = a + b
    update = np.sign(c)  # sign(0) = 0
    p[...] = p + dt(-lr) * update
    m[...] = m * dt(beta2) + dt(1 - beta2) * g
    # Where beta1*m + (1-beta1)*g is within rounding of zero, an equally valid
    # evaluation (FMA, lerp form) may pick the other sign: p may then differ by 2*lr.
    ambiguous = np.abs(c) <= 16 * np.finfo(p.dtype).eps * (np.abs(a) + np.abs(b))
    if np.any(ambiguous):
        return np.where(ambiguous, 2 * lr, 0.0)
    return None


_STEP: dict[str, Callable] = {
    "SGD": _sgd,
    "Adam": lambda p, g, st, h: _adam(p, g, st, h, decoupled=h["decoupled_weight_decay"]),
    "AdamW": lambda p, g, st, h: _adam(p, g, st, h, decoupled=True),
    "RMSprop": _rmsprop,
    "Adagrad": _adagrad,
    "Lion": _lion,
}


def ref_step(name: str, params: list[np.ndarray], grads: list, state: dict,
             hyper: dict) -> list:
    """One optimizer step over one parameter group, in place.

    ``params``: arrays updated in place.  ``grads``: arrays (or None: that
    parameter is skipped and its state untouched, as torch).  ``state``: dict
    index -> per-parameter state dict (created on first use, torch layout).
    ``hyper``: torch-named hyperparameters; missing ones take torch's defaults.
    Returns, per parameter, an array of allowed absolute slack or None.
    """
    h = full_hyper(name, hyper)
    if len(params) != len(grads):
        raise ValueError("params and grads differ in length")
    slack = []
    for i, (p, g) in enumerate(zip(params, grads)):
        if g is None:
            slack.append(None)
            continue
        st = state.get(i, {})
        slack.append(_STEP[name](p, np.asarray(g), st, h))
        if st:  # SGD without momentum keeps no state at all, as torch
            state[i] = st
    return slack


class RefOptimizer:
    """Reference optimizer over param groups: list of (arrays, hyper) pairs.

    State is keyed by the global parameter index (torch numbering: group 0's
    parameters first), so ``self.state`` is comparable to a state_dict's.
    """

    def __init__(self, name: str, groups: list[tuple[list[np.ndarray], dict]]):
        self.name = name
        self.groups = [(list(ps), dict(h)) for ps, h in groups]
        self.state: dict[int, dict] = {}
        self.slack = [[np.zeros(np.shape(p)) for p in ps] for ps, _ in self.groups]

    def set_lr(self, group: int, lr: float) -> None:
        self.groups[group][1]["lr"] = lr

    def step(self, grads_per_group: list[list]) -> None:
        offset = 0
        for (ps, h), grads, slacks in zip(self.groups, grads_per_group, self.slack):
            local = {i: self.state[offset + i] for i in range(len(ps)) if offset + i in self.state}
            added = ref_step(self.name, ps, grads, local, h)
            for i, st in local.items():
                self.state[offset + i] = st
            for s, a in zip(slacks, added):
                if a is not None:
                    s += a
            offset += len(ps)


# ---------------------------------------------------------------------------
# Shared test support
# ---------------------------------------------------------------------------

RANDOM = "random"  # marker in CASES: draw this hyperparameter from RANGES

# Every flag and every optional term of each algorithm appears in some case.
# Continuous hyperparameters that are always drawn (lr, betas, eps, alpha) are
# listed in ALWAYS_DRAWN; a case names flags and the optional terms it turns on.
CASES: dict[str, list[dict]] = {
    "SGD": [
        {},
        {"momentum": RANDOM},
        {"momentum": RANDOM, "dampening": RANDOM},
        {"momentum": RANDOM, "nesterov": True},
        {"weight_decay": RANDOM, "maximize": True},
        {"momentum": RANDOM, "dampening": RANDOM, "weight_decay": RANDOM, "maximize": True},
        {"momentum": RANDOM, "nesterov": True, "weight_decay": RANDOM, "maximize": True},
    ],
    "Adam": [
        {},
        {"weight_decay": RANDOM},
        {"amsgrad": True},
        {"amsgrad": True, "maximize": True, "weight_decay": RANDOM},
        {"maximize": True},
        {"decoupled_weight_decay": True, "weight_decay": RANDOM},
        {"decoupled_weight_decay": True, "amsgrad": True, "maximize": True,
         "weight_decay": RANDOM},
    ],
    "AdamW": [
        {},  # default weight_decay=1e-2
        {"weight_decay": RANDOM},
        {"weight_decay": 0.0, "amsgrad": True},
        {"amsgrad": True, "maximize": True, "weight_decay": RANDOM},
    ],
    "RMSprop": [
        {},
        {"centered": True},
        {"momentum": RANDOM},
        {"centered": True, "momentum": RANDOM, "weight_decay": RANDOM},
        {"maximize": True, "weight_decay": RANDOM},
        {"maximize": True, "centered": True, "momentum": RANDOM},
    ],
    "Adagrad": [
        {},
        {"lr_decay": RANDOM},
        {"initial_accumulator_value": RANDOM},
        {"weight_decay": RANDOM, "maximize": True},
        {"lr_decay": RANDOM, "initial_accumulator_value": RANDOM, "weight_decay": RANDOM,
         "maximize": True},
    ],
    "Lion": [
        {},
        {"weight_decay": RANDOM},
    ],
}

ALWAYS_DRAWN: dict[str, tuple[str, ...]] = {
    "SGD": ("lr",),
    "Adam": ("lr", "beta1", "beta2", "eps"),
    "AdamW": ("lr", "beta1", "beta2", "eps"),
    "RMSprop": ("lr", "alpha", "eps"),
    "Adagrad": ("lr", "eps"),
    "Lion": ("lr", "beta1", "beta2"),
}

# (low, high, log-uniform?) -- inside torch's constraints, away from regimes
# where the algorithm itself is ill-conditioned (e.g. centered RMSprop with
# alpha -> 0 computes the variance as a difference of equal numbers).
RANGES: dict[str, tuple[float, float, bool]] = {
    "lr": (1e-4, 1e-1, True),
    "beta1": (0.0, 0.95, False),
    # beta2 below ~0.9 with a slower beta1 makes m/sqrt(v) blow up whenever a
    # gradient is near zero: the trajectory then amplifies rounding (torch and
    # this reference disagree by 1e-4 in float32), which tests nothing useful
    "beta2": (0.9, 0.9999, False),
    "eps": (1e-10, 1e-6, True),
    "alpha": (0.5, 0.999, False),
    "momentum": (0.05, 0.99, False),
    "dampening": (0.05, 0.9, False),
    "weight_decay": (1e-4, 0.1, True),
    "lr_decay": (1e-4, 0.1, True),
    "initial_accumulator_value": (1e-3, 1.0, True),
}
LION_RANGES = {"beta2": (0.5, 0.999, False)}


def draw_hyper(name: str, case: dict, uniform: Callable[[float, float, bool], float]) -> dict:
    """Concrete torch-named hyperparameters for one case.

    ``uniform(low, high, log)`` supplies each random value (hypothesis or numpy).
    """
    drawn: dict = {}
    for key in ALWAYS_DRAWN[name]:
        low, high, log = (LION_RANGES if name == "Lion" else {}).get(key, RANGES[key])
        drawn[key] = uniform(low, high, log)
    hyper = {k: v for k, v in drawn.items() if k not in ("beta1", "beta2")}
    if "beta1" in drawn:
        hyper["betas"] = (drawn["beta1"], drawn["beta2"])
    for key, value in case.items():
        if value == RANDOM:
            hyper[key] = uniform(*RANGES[key])
        else:
            hyper[key] = value
    return hyper


def numpy_uniform(rng: np.random.Generator) -> Callable[[float, float, bool], float]:
    def uniform(low: float, high: float, log: bool) -> float:
        if log:
            return float(math.exp(rng.uniform(math.log(low), math.log(high))))
        return float(rng.uniform(low, high))
    return uniform


def case_id(name: str, case: dict) -> str:
    if not case:
        return f"{name}-plain"
    parts = [k if v is True or v == RANDOM else f"{k}={v}" for k, v in case.items()]
    return f"{name}-" + "+".join(parts)


ALL_CASES: list[tuple[str, dict]] = [(n, c) for n, cs in CASES.items() for c in cs]

# Tolerances per dtype: (rtol, atol as a fraction of the largest magnitude the
# compared quantity reached during the run).  Absolute error from rounding is
# bounded by (number of operations) x ulp(largest intermediate), so values that
# pass near zero are judged against the scale they came from.
TOLERANCES = {np.dtype(np.float64): (1e-12, 1e-12), np.dtype(np.float32): (1e-5, 1e-5)}

SIZES_BASE = (0, 1)
WIDTHS = (4, 8, 16)
SMALL_SIZES = tuple(sorted({*SIZES_BASE, *(w + d for w in WIDTHS for d in (-1, 0, 1))}))


def make_shapes(sizes_and_kinds: list[tuple[int, str]]) -> list[tuple[int, ...]]:
    """(size, kind) -> shape; kind is '0d', '1d' or '2d' ((2, size))."""
    shapes = []
    for size, kind in sizes_and_kinds:
        if kind == "0d":
            shapes.append(())
        elif kind == "2d":
            shapes.append((2, size))
        else:
            shapes.append((size,))
    return shapes


class TorchRun:
    """The same groups driven by torch.optim (foreach=False); torch imported lazily."""

    def __init__(self, name: str, groups: list[tuple[list[np.ndarray], dict]]):
        import torch

        self.torch = torch
        self.tensors = [[torch.from_numpy(np.array(p, copy=True)) for p in ps] for ps, _ in groups]
        cls = getattr(torch.optim, name)
        # constructor kwargs too: torch's Adagrad fills `sum` from the constructor's
        # initial_accumulator_value, ignoring the group's
        self.opt = cls([{"params": ts, **h} for ts, (_, h) in zip(self.tensors, groups)],
                       foreach=False, **groups[0][1])

    def step(self, grads_per_group: list[list]) -> None:
        for ts, grads in zip(self.tensors, grads_per_group):
            for t, g in zip(ts, grads):
                t.grad = None if g is None else self.torch.from_numpy(np.array(g, copy=True))
        self.opt.step()

    def params(self) -> list[np.ndarray]:
        return [t.detach().numpy() for ts in self.tensors for t in ts]

    def state(self) -> dict[int, dict]:
        """Per global index: buffers as ndarrays, ``step`` as a float."""
        out = {}
        flat = [t for ts in self.tensors for t in ts]
        for i, t in enumerate(flat):
            if t in self.opt.state:
                out[i] = {k: (float(v) if k == "step" else v.detach().numpy())
                          for k, v in self.opt.state[t].items() if v is not None}
        return out


class GradSource:
    """Deterministic gradients: one fresh draw per (step, parameter)."""

    def __init__(self, seed: int, shapes: list[tuple[int, ...]], dtype, scale: float = 1.0):
        self.rng = np.random.default_rng(seed)
        self.shapes = shapes
        self.dtype = np.dtype(dtype)
        self.scale = scale

    def next(self) -> list[np.ndarray]:
        return [np.array(self.rng.standard_normal(s) * self.scale, dtype=self.dtype)
                for s in self.shapes]


def make_params(seed: int, shapes: list[tuple[int, ...]], dtype, scale: float = 1.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed ^ 0x5EED)
    # np.array keeps 0-d shapes (np.ascontiguousarray would make them 1-d)
    return [np.array(rng.standard_normal(s) * scale, dtype=dtype) for s in shapes]


class ScaleTracker:
    """Largest magnitude each tracked array has reached (for the atol scale)."""

    def __init__(self):
        self.scale: dict = {}

    def update(self, key, arr) -> None:
        arr = np.asarray(arr)
        if arr.size:
            m = float(max(arr.max(), -arr.min()))
            if m > self.scale.get(key, 0.0):
                self.scale[key] = m

    def get(self, key) -> float:
        return self.scale.get(key, 0.0)


def assert_close(actual, expected, dtype, scale: float = 0.0, slack=None, what: str = "") -> None:
    """Per-dtype comparison: |a - e| <= rtol*|e| + atol_frac*scale + slack."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    rtol, atol_frac = TOLERANCES[np.dtype(dtype)]
    scale = max(scale, float(np.max(np.abs(expected))) if expected.size else 0.0)
    atol = atol_frac * scale + np.finfo(dtype).tiny
    if slack is not None:
        atol = atol + np.asarray(slack)
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    bad = ~(np.abs(a - e) <= atol + rtol * np.abs(e))
    if np.any(bad):
        idx = np.argwhere(bad)[:5] if a.ndim else [()]
        details = ", ".join(f"[{tuple(int(x) for x in i)}] got {a[tuple(i)]!r} expected {e[tuple(i)]!r}"
                            for i in idx)
        raise AssertionError(f"{what}: {int(np.sum(bad))}/{bad.size} elements differ "
                             f"(rtol={rtol}, atol={atol_frac}*{scale:.3g}): {details}")
