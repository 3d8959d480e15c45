"""Optimizer and scheduler of the main job, from the ``[optimizer]`` and ``[schedule]``
sections; a constructor's complaint becomes a :class:`ConfigError` naming the section."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .config import ConfigError, is_spec_path

__all__ = ["build_optimizer", "build_scheduler", "optimizer_class", "STANDARD_SCHEDULERS",
           "describe_optimizer", "describe_schedule"]

#: schedulers a config can name: those whose arguments are plain values
STANDARD_SCHEDULERS = ("StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
                       "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
                       "OneCycleLR", "CyclicLR", "ReduceLROnPlateau", "WarmupCosine")
#: schedules defined per optimizer step rather than per epoch (their default interval)
PER_STEP = ("WarmupCosine", "OneCycleLR", "CyclicLR")


def _standard_optimizers() -> dict[str, str]:
    from .. import optimizers
    return {name.lower(): name for name in optimizers.__all__ if name != "Optimizer"}


def optimizer_class(name: str) -> type:
    """The optimizer class named ``name`` (any case), or compiled from the spec file
    ``name`` (a path ending in ``.toml`` or holding a ``/``)."""
    from .. import optimizers
    from .. import SpecError, load_spec
    standard = _standard_optimizers()
    if name.lower() in standard:
        return getattr(optimizers, standard[name.lower()])
    if is_spec_path(name):
        if not Path(name).is_file():
            raise ConfigError(f"[optimizer] name: no spec file {name}")
        try:
            return load_spec(name)
        except (SpecError, OSError, ValueError) as exc:
            raise ConfigError(f"[optimizer] name: the spec {name} does not load: {exc}") from None
    raise ConfigError(f"[optimizer] name: unknown optimizer {name!r} (standard: "
                      f"{', '.join(sorted(standard.values()))}; or the path of a spec .toml)")


def _arguments(section: Mapping[str, Any], skip: tuple[str, ...]) -> dict[str, Any]:
    """Constructor keywords: TOML arrays become tuples (``betas = [0.9, 0.99]``)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in section.items()
            if k not in skip}


def build_optimizer(section: Mapping[str, Any], params: list) -> Any:
    """``cls(params, **other keys)`` for the optimizer ``section["name"]``."""
    cls = optimizer_class(section["name"])
    try:
        return cls(params, **_arguments(section, ("name",)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[optimizer] {exc}") from None


def build_scheduler(section: Mapping[str, Any], optimizer: Any, steps_per_epoch: int,
                    epochs: int) -> tuple[Any, str]:
    """``(scheduler or None, "step" | "epoch")`` for ``section``.  WarmupCosine's
    ``warmup_steps`` and ``total_steps`` default to one epoch and the whole run."""
    from .. import schedulers
    name = section["name"]
    if name.lower() == "none":
        extra = sorted(set(section) - {"name"})
        if extra:
            raise ConfigError(f"[schedule] name = 'none' takes no other keys, got "
                              f"{', '.join(extra)}")
        return None, "epoch"
    if name not in STANDARD_SCHEDULERS:
        raise ConfigError(f"[schedule] name: unknown scheduler {name!r} (known: "
                          f"{', '.join(STANDARD_SCHEDULERS)}, or 'none')")
    interval = section.get("interval", "step" if name in PER_STEP else "epoch")
    kwargs = _arguments(section, ("name", "interval"))
    if name == "WarmupCosine":
        per = steps_per_epoch if interval == "step" else 1
        kwargs.setdefault("warmup_steps", per)
        kwargs.setdefault("total_steps", max(per * epochs, kwargs["warmup_steps"] + 1))
    try:
        return getattr(schedulers, name)(optimizer, **kwargs), interval
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[schedule] {name}: {exc}") from None


def describe_optimizer(optimizer: Any) -> str:
    """``AdamW (lr 0.002, weight_decay 0.05)``."""
    group = optimizer.param_groups[0]
    shown = [f"{k} {group[k]:g}" for k in ("lr", "weight_decay") if k in group]
    return f"{type(optimizer).__name__} ({', '.join(shown)})"


def describe_schedule(scheduler: Any, interval: str) -> str:
    if scheduler is None:
        return "constant lr"
    fields = getattr(scheduler, "_fields", ())
    shown = [f"{k} {getattr(scheduler, k)}" for k in fields
             if isinstance(getattr(scheduler, k, None), (int, float))]
    return f"{type(scheduler).__name__} ({', '.join(shown)}), stepped per {interval}"
