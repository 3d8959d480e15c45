"""Hyperparameter handling shared by every spec optimizer: keyword arguments
(torch names, tuples such as ``betas``, the original library's aliases) ->
one canonical param-group dict, validated before anything is touched.

Values are taken as torch takes them: numbers may be Python or NumPy scalars or
0-d arrays/tensors (stored as the Python number they hold), flags ``True``/``False`` or ``1``/``0``
(stored as bools), tuples any sequence of the right length.  torch's execution
options are accepted and have nothing to choose here (:data:`TORCH_OPTIONS`).
docs/optimizers.md lists where the constructors deliberately differ from torch."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from odyssey_codegen.api import Spec

__all__ = ["group_defaults", "canonical_group", "hyper_values", "check_number", "GROUP_EXTRAS",
           "accepted_names", "TORCH_OPTIONS", "strip_torch_options", "validate_group",
           "revalidate"]

#: per-group options every optimizer has besides its spec's hyperparameters
GROUP_EXTRAS = {"max_grad_norm": None}
#: torch.optim's execution options -> the values that make sense here.  Every step is
#: already one fused native call per group (foreach / fused pick among torch's three
#: implementations: any value is accepted); there are no CUDA graphs to capture and no
#: autograd through ``step`` (capturable / differentiable must stay False).
TORCH_OPTIONS = {"foreach": (None, True, False), "fused": (None, True, False),
                 "capturable": (False,), "differentiable": (False,)}


def strip_torch_options(hyper: dict[str, Any], owner: str) -> dict[str, Any]:
    """``hyper`` without torch's execution options (checked: ValueError for a value
    that asks for something this library does not do)."""
    for name, allowed in TORCH_OPTIONS.items():
        value = hyper.get(name)
        value = bool(value) if isinstance(value, (bool, np.bool_)) else value
        if name in hyper and (value is not None and not isinstance(value, bool)
                              or value not in allowed):
            raise ValueError(f"{owner}: {name}={hyper[name]!r} is not supported (allowed: "
                             f"{', '.join(map(repr, allowed))}); steps run as one native call "
                             "per group on the CPU, outside any autograd graph")
    return {k: v for k, v in hyper.items() if k not in TORCH_OPTIONS}


def _number(value: Any) -> Any:
    """The scalar inside a 0-d array or tensor (torch's ``lr=torch.tensor(0.01)``),
    else ``value`` itself; the caller checks that it is a number."""
    if not isinstance(value, (bool, int, float, np.generic)) and getattr(value, "ndim", 1) == 0 \
            and hasattr(value, "item"):
        return value.item()
    return value


def _flag(value: Any, owner: str, name: str) -> bool:
    """``True``/``False`` (or 1/0, as torch's truthiness takes them) as a bool."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer))
                                               and value in (0, 1)):
        return bool(value)
    raise TypeError(f"{owner}: {name} must be True or False, got {value!r}")


def check_number(name: str, value: Any) -> float:
    """``value`` (a number, or a 0-d array/tensor) as a finite float, else
    TypeError/ValueError naming ``name``."""
    value = _number(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def group_defaults(spec: Spec) -> dict[str, Any]:
    """The spec's defaults in torch's group layout (tuples for tuple hypers)."""
    out: dict[str, Any] = {}
    tuples = spec.tuples()
    for h in spec.hypers:
        if h.tuple:
            if h.tuple not in out:
                out[h.tuple] = tuple(spec.hyper(n).default for n in tuples[h.tuple])
        else:
            out[h.name] = h.default
    for f in spec.user_flags:
        out[f.name] = f.default
    out.update(GROUP_EXTRAS)
    return out


def accepted_names(spec: Spec) -> set[str]:
    """Every keyword a constructor or param group understands for ``spec``."""
    return (set(group_defaults(spec)) | {a for h in spec.hypers for a in h.aliases}
            | {n for names in spec.tuples().values() for n in names})


def canonical_group(spec: Spec, base: Mapping[str, Any], overrides: Mapping[str, Any],
                    owner: str) -> dict[str, Any]:
    """``base`` updated with ``overrides`` (any accepted spelling), validated."""
    out = dict(base)
    tuples = spec.tuples()
    component = {n: (t, i) for t, names in tuples.items() for i, n in enumerate(names)}
    alias = {a: h.name for h in spec.hypers for a in h.aliases}
    plain = {h.name for h in spec.hypers if not h.tuple}
    flags = {f.name for f in spec.user_flags}
    for key, value in overrides.items():
        name = alias.get(key, key)
        spelled = component[name][0] if name in component else name
        if key != spelled and spelled in overrides and overrides[spelled] != base.get(spelled):
            raise TypeError(f"{owner}() got both {spelled!r} and {key!r}; pass one of them")
        if name in flags:
            out[name] = _flag(value, owner, name)
        elif name in plain or name in GROUP_EXTRAS:
            out[name] = _number(value)
        elif name in tuples:
            try:
                value = tuple(_number(v) for v in value)
            except TypeError:
                raise TypeError(f"{owner}: {name} must be a tuple of {len(tuples[name])} "
                                f"numbers, got {value!r}") from None
            if len(value) != len(tuples[name]):
                raise ValueError(f"{owner}: {name} must have {len(tuples[name])} entries "
                                 f"({', '.join(tuples[name])}), got {len(value)}")
            out[name] = value
        elif name in component:
            tup, index = component[name]
            values = list(out[tup])
            values[index] = _number(value)
            out[tup] = tuple(values)
        else:
            accepted = sorted(set(base) | set(alias) | set(component))
            raise TypeError(f"{owner}() got an unexpected keyword argument {key!r} "
                            f"(accepted: {', '.join(accepted)})")
    validate_group(spec, out, owner)
    return out


_layouts: dict[int, tuple[Spec, tuple]] = {}


def _layout(spec: Spec) -> tuple[tuple[str, Any, str | None, int], ...]:
    """``(name, hyper, tuple argument or None, index in it)`` per hyperparameter, in
    spec order; computed once per spec (a step reads it every time the values change)."""
    entry = _layouts.get(id(spec))
    if entry is None or entry[0] is not spec:
        tuples = spec.tuples()
        rows = tuple((h.name, h, h.tuple, tuples[h.tuple].index(h.name) if h.tuple else -1)
                     for h in spec.hypers)
        entry = _layouts[id(spec)] = (spec, rows)
    return entry[1]


def validate_group(spec: Spec, group: Mapping[str, Any], owner: str) -> dict[str, float]:
    """Raise on a bad value in ``group``; changes nothing.  Returns ``{hyper name:
    value}`` as floats (tuples unpacked)."""
    out = {}
    for name, h, tup, index in _layout(spec):
        out[name] = _hyper_value(h, group[tup][index] if tup else group[name], owner,
                                 f"{tup}[{index}] ({name})" if tup else name)
    for f in spec.user_flags:
        _flag(group[f.name], owner, f.name)
    clip = group.get("max_grad_norm")
    if clip is not None and check_number(f"{owner}: max_grad_norm", clip) <= 0:
        raise ValueError(f"{owner}: invalid max_grad_norm: {clip!r} (must be > 0 or None)")
    return out


def _hyper_value(h: Any, value: Any, owner: str, shown: str) -> float:
    """One hyperparameter's value as a float within its constraint, else an error."""
    if type(value) is float and math.isfinite(value) and not h.violates(value):
        return value                    # the common case: a valid float, nothing to convert
    number = check_number(f"{owner}: {shown}", value)
    if h.violates(number):
        raise ValueError(f"{owner}: invalid {shown}: {number!r} "
                         f"(must be {h.constraint_text()})")
    return number


def revalidate(spec: Spec, reads: frozenset[str], old: tuple, new: tuple,
               values: dict[str, float], owner: str) -> dict[str, float] | None:
    """A group's validated ``values`` after its values went from ``old`` to ``new``
    (both in :func:`group_defaults` order, as ``operator.itemgetter`` reads them),
    when only hyperparameters that no derived flag or check reads (``reads``)
    changed: each new value checked as :func:`validate_group` checks it (the same
    errors), the rest kept.  None when a flag, ``max_grad_norm`` or a
    hyperparameter in ``reads`` changed, or a changed value is not a plain
    Python number (a tensor, say): the group is then validated in full.
    A scheduler's new ``lr`` every step takes this path: the kernel variant, its
    flags and the checks' verdicts cannot change with it."""
    rows = _value_rows(spec, reads)
    out = None
    for position, (before, after) in enumerate(zip(old, new)):
        if after is before or _same_value(after, before):
            continue
        row = rows[position]
        if row is None or not (type(after) in _PLAIN if not row[0][2] else (
                type(after) is tuple and len(after) == len(row)
                and all(type(v) in _PLAIN for v in after))):
            return None
        if out is None:
            out = dict(values)
        for name, h, tup, index in row:
            out[name] = _hyper_value(h, after[index] if tup else after, owner,
                                     f"{tup}[{index}] ({name})" if tup else name)
    return dict(values) if out is None else out


_PLAIN = (float, int)
_SCALARS = (float, int, bool, str, type(None))


def _same_value(a: Any, b: Any) -> bool:
    """Whether a group's value ``a`` is its value ``b`` again: the same object, or
    an equal scalar of the same type (a tuple: element by element).  Anything
    else counts as changed, so an equal tensor is never taken for the number it
    replaced (its value can change in place)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if type(a) is tuple:
        return len(a) == len(b) and all(map(_same_value, a, b))
    return type(a) in _SCALARS and a == b


_value_rows_cache: dict[int, tuple[Spec, frozenset, tuple]] = {}


def _value_rows(spec: Spec, reads: frozenset[str]) -> tuple:
    """Per :func:`group_defaults` key: the :func:`_layout` rows of the hyperparameters
    it holds (one, or a tuple's), or None for a flag, ``max_grad_norm`` or a key
    holding a hyperparameter in ``reads``."""
    entry = _value_rows_cache.get(id(spec))
    if entry is None or entry[0] is not spec or entry[1] is not reads:
        layout = _layout(spec)
        rows = []
        for key in group_defaults(spec):
            held = tuple(r for r in layout if (r[2] or r[0]) == key)
            rows.append(held if held and not any(r[0] in reads for r in held) else None)
        entry = _value_rows_cache[id(spec)] = (spec, reads, tuple(rows))
    return entry[2]


def hyper_values(spec: Spec, group: Mapping[str, Any]) -> dict[str, Any]:
    """``{hyper name: raw value}`` read from a group (tuples unpacked)."""
    return {name: group[tup][index] if tup else group[name]
            for name, _, tup, index in _layout(spec)}
