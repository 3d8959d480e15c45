"""Render learning-rate curves to PNG.

matplotlib is an optional extra (``pip install "odyssey-training[plot]"``) and is
imported only when something is drawn.  Drawing uses ``lr_at`` / ``momentum_at``, so
it never steps or otherwise changes the scheduler it is given.  Only the
object-oriented matplotlib API is used: no pyplot, no change to the global backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from typing import Any

from .base import LRScheduler, OptimizerLike

Curve = Sequence[Sequence[float]]
"""A precomputed curve: one list of per-group lrs per step (e.g. a ReduceLROnPlateau run)."""

Source = LRScheduler | Callable[[OptimizerLike], LRScheduler] | Curve
"""What can be drawn: a scheduler, a factory taking an optimizer, or a precomputed curve."""


class ProbeOptimizer:
    """A stand-in optimizer for drawing a schedule from a factory: groups with lr and momentum."""

    def __init__(self, lrs: Sequence[float] = (0.1,), momentum: float = 0.9) -> None:
        self.param_groups = [{"params": [], "lr": float(lr), "momentum": momentum} for lr in lrs]


def _matplotlib_figure() -> type:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(
            "plotting schedules needs matplotlib: pip install 'odyssey-training[plot]'"
        ) from err
    return Figure


def _as_scheduler(source: Source, lrs: Sequence[float]) -> LRScheduler | None:
    if isinstance(source, LRScheduler):
        return source
    if callable(source):
        scheduler = source(ProbeOptimizer(lrs))
        if not isinstance(scheduler, LRScheduler):
            raise TypeError(
                f"the factory returned a {type(scheduler).__name__}; only schedules with lr_at "
                "can be drawn from a factory (pass a precomputed curve for ReduceLROnPlateau)"
            )
        return scheduler
    if hasattr(source, "lr_at") or hasattr(source, "step"):
        raise TypeError(
            f"a {type(source).__name__} has no lr_at(step); pass a precomputed curve instead"
        )
    return None


def schedule_curve(source: Source, steps: int, lrs: Sequence[float] = (0.1,)) -> list[list[float]]:
    """The lr of every group at steps ``0 .. steps - 1``.

    ``source`` is a scheduler (read with ``lr_at``, left unchanged), a factory called
    with a ``ProbeOptimizer(lrs)``, or an already computed curve (returned as lists).
    """
    scheduler = _as_scheduler(source, lrs)
    if scheduler is None:
        return [list(row) for row in list(source)[:steps]]
    return [scheduler.lr_at(t) for t in range(steps)]


def _momentum_curve(source: Source, steps: int, lrs: Sequence[float]) -> list[list[float]] | None:
    scheduler = _as_scheduler(source, lrs)
    if scheduler is None or scheduler.momentum_at(0) is None:
        return None
    return [scheduler.momentum_at(t) for t in range(steps)]


def draw_schedule(
    ax: Any,
    source: Source,
    steps: int,
    *,
    title: str | None = None,
    lrs: Sequence[float] = (0.1,),
    show_momentum: bool = True,
) -> Any:
    """Draw one schedule's lr curve(s) on a matplotlib ``Axes`` (momentum dashed, right axis)."""
    curve = schedule_curve(source, steps, lrs)
    xs = range(len(curve))
    n_groups = len(curve[0]) if curve else 0
    for g in range(n_groups):
        ax.plot(xs, [row[g] for row in curve], lw=1.6, label=f"group {g}" if n_groups > 1 else "lr")
    momenta = _momentum_curve(source, steps, lrs) if show_momentum else None
    if momenta is not None:
        twin = ax.twinx()
        twin.plot(xs, [row[0] for row in momenta], color="0.55", lw=1.0, ls="--")
        twin.set_ylabel("momentum", color="0.45", fontsize=7)
        twin.tick_params(labelsize=6, colors="0.45")
    if title:
        ax.set_title(title, fontsize=9)
    ax.set_xlabel("step", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.grid(alpha=0.3)
    if n_groups > 1:
        ax.legend(fontsize=6)
    return ax


def plot_schedule(
    source: Source,
    steps: int,
    path: str | PathLike[str] | None = None,
    *,
    title: str | None = None,
    lrs: Sequence[float] = (0.1,),
    show_momentum: bool = True,
) -> Any:
    """Render one schedule to a new figure, written to ``path`` (PNG) when given; return it."""
    figure = _matplotlib_figure()(figsize=(5, 3.2), layout="constrained")
    draw_schedule(
        figure.add_subplot(), source, steps, title=title, lrs=lrs, show_momentum=show_momentum
    )
    if path is not None:
        figure.savefig(path, dpi=120)
    return figure


def plot_schedules(
    sources: Mapping[str, Source],
    steps: int,
    path: str | PathLike[str] | None = None,
    *,
    ncols: int = 4,
    lrs: Sequence[float] = (0.1,),
    show_momentum: bool = True,
) -> Any:
    """Render several schedules as a grid of titled panels; write a PNG when ``path`` is given."""
    n = len(sources)
    nrows = max(1, -(-n // ncols))
    figure = _matplotlib_figure()(figsize=(3.3 * ncols, 2.5 * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, source) in zip(axes, sources.items()):
        draw_schedule(ax, source, steps, title=name, lrs=lrs, show_momentum=show_momentum)
    for ax in axes[n:]:
        ax.set_visible(False)
    if path is not None:
        figure.savefig(path, dpi=110)
    return figure
