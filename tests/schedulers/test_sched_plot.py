"""The plot helper: PNG output, no effect on the scheduler, a clear error without matplotlib."""

from __future__ import annotations

import sys

import pytest
from sched_helpers import FakeOptimizer

import odyssey_training.schedulers as ots
from odyssey_training.schedulers.plot import (
    ProbeOptimizer,
    plot_schedule,
    plot_schedules,
    schedule_curve,
)

pytestmark = pytest.mark.nokernel

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_schedule_curve_reads_lr_at_without_stepping() -> None:
    optimizer = FakeOptimizer(momentum=0.9)
    scheduler = ots.OneCycleLR(optimizer, [0.5, 0.2, 1.0], total_steps=40)
    scheduler.step()
    groups = [dict(g) for g in optimizer.param_groups]
    curve = schedule_curve(scheduler, 41)
    assert curve == [scheduler.lr_at(t) for t in range(41)]
    assert scheduler.last_epoch == 1 and optimizer.param_groups == groups


def test_schedule_curve_from_factory_and_precomputed() -> None:
    curve = schedule_curve(lambda o: ots.StepLR(o, 2, 0.5), 5, lrs=(1.0, 0.1))
    assert curve == [[1.0, 0.1], [1.0, 0.1], [0.5, 0.05], [0.5, 0.05], [0.25, 0.025]]
    assert schedule_curve([(0.3,), (0.2,), (0.1,)], 2) == [[0.3], [0.2]]
    assert ProbeOptimizer((0.5,)).param_groups[0]["momentum"] == 0.9


def test_schedule_curve_rejects_metric_driven_schedules() -> None:
    plateau = ots.ReduceLROnPlateau(FakeOptimizer())
    with pytest.raises(TypeError, match="precomputed curve"):
        schedule_curve(plateau, 10)
    with pytest.raises(TypeError, match="ReduceLROnPlateau"):
        schedule_curve(lambda o: ots.ReduceLROnPlateau(o), 10)


def test_plot_schedule_writes_png(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "cosine.png"
    scheduler = ots.CosineAnnealingLR(FakeOptimizer(), T_max=30)
    plot_schedule(scheduler, 90, path, title="cosine")
    assert path.read_bytes()[:8] == PNG_SIGNATURE and path.stat().st_size > 5000
    assert scheduler.last_epoch == 0


def test_plot_schedules_grid_writes_png(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "grid.png"
    figure = plot_schedules(
        {
            "step": lambda o: ots.StepLR(o, 10),
            "one cycle": lambda o: ots.OneCycleLR(o, 0.1, total_steps=49),
            "curve": [[0.1 / (1 + t)] for t in range(50)],
        },
        50,
        path,
        ncols=2,
    )
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    visible = [ax for ax in figure.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in visible] == ["step", "one cycle", "curve"]


def test_missing_matplotlib_names_the_plot_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"odyssey-training\[plot\]"):
        plot_schedule(lambda o: ots.StepLR(o, 10), 20)
