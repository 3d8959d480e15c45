"""Argument checks shared by the schedulers.

Every check raises ``ValueError`` (or ``TypeError`` for a value of the wrong kind)
whose message starts with the argument's name, and returns the normalized value.
Schedulers run all of their checks before they touch the optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` as an ``int`` >= ``minimum``.

    Any whole number is accepted: an ``int``, a NumPy integer, or a float with an
    integral value (``30.0``, as torch takes ``StepLR(opt, 30.0)``); a bool or a
    fractional float is a ``ValueError``.
    """
    if isinstance(value, Real) and not isinstance(value, (bool, Integral)):
        as_float = float(value)
        if not as_float.is_integer():
            raise ValueError(f"{name} must be an integer, got {value!r}")
        value = int(as_float)
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_number(
    name: str,
    value: Any,
    *,
    above: float | None = None,
    minimum: float | None = None,
    below: float | None = None,
    maximum: float | None = None,
) -> float:
    """Return ``value`` as a finite ``float`` inside the given (open or closed) bounds."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if above is not None and not value > above:
        raise ValueError(f"{name} must be > {above}, got {value}")
    if minimum is not None and not value >= minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if below is not None and not value < below:
        raise ValueError(f"{name} must be < {below}, got {value}")
    if maximum is not None and not value <= maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_increasing(name: str, values: Any, *, minimum: int | None = None) -> list[int]:
    """Return ``values`` as a list of strictly increasing integers (each >= ``minimum``)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        try:
            values = list(values)
        except TypeError:
            raise ValueError(f"{name} must be a sequence of integers, got {values!r}") from None
    out = [check_int(f"{name}[{i}]", v, minimum=minimum) for i, v in enumerate(values)]
    for i in range(1, len(out)):
        if out[i] <= out[i - 1]:
            raise ValueError(f"{name} must be strictly increasing, got {out}")
    return out


def check_milestones(name: str, values: Any) -> list[int]:
    """Return ``values`` sorted, repeats kept: torch's ``Counter(milestones)`` as a list.

    ``values`` is any iterable of whole numbers, in any order, or a mapping of
    milestone -> count (a ``collections.Counter``, which is how torch stores them);
    a milestone listed ``n`` times decays by ``gamma ** n`` there.
    """
    if isinstance(values, Mapping):
        out: list[int] = []
        for key, count in values.items():
            milestone = check_int(f"{name}[{key!r}]", key)
            out += [milestone] * check_int(f"count of {name}[{key!r}]", count, minimum=0)
        return sorted(out)
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"{name} must be an iterable of integers, got {values!r}")
    return sorted(check_int(f"{name}[{i}]", v) for i, v in enumerate(values))


def per_group(
    name: str, value: Any, n_groups: int, check: Callable[[str, Any], float]
) -> list[float]:
    """Broadcast a scalar to ``n_groups`` values, or check a list/tuple has one per group."""
    if isinstance(value, (list, tuple)):
        if len(value) != n_groups:
            raise ValueError(
                f"{name} must have one value per param group ({n_groups}), got {len(value)}"
            )
        return [check(f"{name}[{i}]", v) for i, v in enumerate(value)]
    checked = check(name, value)
    return [checked] * n_groups


def per_group_callables(name: str, value: Any, n_groups: int) -> list[Callable[[int], float]]:
    """Broadcast one callable to ``n_groups``, or check a list/tuple has one per group."""
    funcs = list(value) if isinstance(value, (list, tuple)) else [value] * n_groups
    if len(funcs) != n_groups:
        raise ValueError(
            f"{name} must have one function per param group ({n_groups}), got {len(funcs)}"
        )
    for i, fn in enumerate(funcs):
        if not callable(fn):
            raise TypeError(f"{name}[{i}] must be callable, got {type(fn).__name__}")
    return funcs
