"""The run directory's PNG plots: learning curves and the confusion matrix.

matplotlib (the ``train`` extra) is used through its object API and the Agg
canvas: no pyplot state, no display needed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..metrics.plot import _matplotlib, plot_confusion_matrix

__all__ = ["plot_curves", "plot_confusion_matrix", "CURVES"]

#: one panel per (title, training key, validation key)
CURVES = (("loss", "loss", "val_loss"), ("accuracy", "accuracy", "val_accuracy"))


def _series(history: Mapping[str, Sequence[Any]], epochs: Sequence[int], key: str
            ) -> tuple[list[int], list[float]]:
    """The 1-based epochs at which ``key`` was logged and its finite values."""
    values = history.get(key, [])
    pairs = [(e + 1, float(v)) for e, v in zip(epochs, values)
             if v is not None and math.isfinite(float(v))]
    return [e for e, _ in pairs], [v for _, v in pairs]


def plot_curves(history: Mapping[str, Sequence[Any]], epochs: Sequence[int], path: str | Path,
                best_epoch: int | None = None, *, dpi: int = 120) -> Path:
    """Write the training and validation loss and accuracy per epoch to ``path`` (PNG),
    one panel each, with a dotted line at ``best_epoch`` (0-based) when given.
    ``history`` is ``History.history`` and ``epochs`` its ``History.epoch``."""
    Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=(10, 4), dpi=dpi)
    FigureCanvasAgg(fig)
    for i, (title, train_key, val_key) in enumerate(CURVES, start=1):
        ax = fig.add_subplot(1, len(CURVES), i)
        for key, label, style in ((train_key, "training", "-"), (val_key, "validation", "-")):
            xs, ys = _series(history, epochs, key)
            if xs:
                ax.plot(xs, ys, style, marker="." if len(xs) < 30 else None, label=label)
        if best_epoch is not None:
            ax.axvline(best_epoch + 1, color="gray", linestyle=":", label="best epoch")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        if ax.has_data():
            ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path
