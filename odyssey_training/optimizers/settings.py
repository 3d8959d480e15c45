"""A param group's settings: its validated hyperparameters (as the kernels take
them), variant flags, clip value and the kernels chosen for them, reused while
the group's values do not change.

New values for the same variant keep the kernels, so the last step's plans stay
valid; when only hyperparameters that no flag or check reads changed (a
scheduler's lr), only those are checked (:func:`~.hyper.revalidate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from odyssey_codegen.api import Kernel
from .hyper import revalidate, validate_group

__all__ = ["Settings", "settle", "revalued"]


@dataclass
class Settings:
    """A group's validated hyperparameters and chosen kernels, reused while the
    group's values (``fingerprint``) do not change."""
    fingerprint: tuple
    flags: dict[str, bool]
    hypers: list[float]
    values: dict[str, float]
    clip: float | None
    kernels: dict[str, Kernel]


def revalued(opt: Any, fingerprint: tuple, last: Settings) -> Settings | None:
    """``last`` with the values ``fingerprint`` (a group's values in
    :func:`~.hyper.group_defaults` order) when they keep its flags, checks and
    kernels; None when the group must be validated in full.  Raises on a bad
    new value, as a full validation would."""
    values = revalidate(opt.spec, opt.program.reads, last.fingerprint, fingerprint, last.values,
                        type(opt).__name__)
    if values is None:
        return None
    return Settings(fingerprint, last.flags, list(values.values()), values, last.clip,
                    last.kernels)


def settle(opt: Any, group: dict[str, Any], fingerprint: tuple,
           last: Settings | None) -> Settings:
    """The settings of the optimizer ``opt``'s ``group``, whose values are
    ``fingerprint``, after ``last`` (its settings at the previous step, if any)."""
    settings = None if last is None else revalued(opt, fingerprint, last)
    if settings is not None:
        return settings
    values = validate_group(opt.spec, group, type(opt).__name__)
    flags = opt._check_variant(group, values)
    clip = group["max_grad_norm"]
    kernels = (last.kernels if last is not None and last.flags == flags
               and (last.clip is None) == (clip is None) else {})
    return Settings(fingerprint, flags, list(values.values()), values, clip, kernels)
