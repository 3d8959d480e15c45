"""Render a confusion matrix as a PNG heat map (needs the ``plot`` extra:
``pip install odyssey-training[plot]``, i.e. matplotlib).

matplotlib is imported only when a plot is drawn, through its object API and
the Agg canvas (no pyplot global state, no display needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .confusion import NORMALIZE, ConfusionMatrix, normalize_counts

__all__ = ["plot_confusion_matrix"]


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plot_confusion_matrix needs matplotlib: install the 'plot' extra "
                          "(pip install 'odyssey-training[plot]')") from exc
    return Figure, FigureCanvasAgg


def plot_confusion_matrix(cm: np.ndarray | ConfusionMatrix, path: str | Path,
                          class_names: Sequence[str] | None = None,
                          normalize: str | None = None, *, title: str | None = None,
                          cmap: str = "Blues", dpi: int = 120) -> Path:
    """Write ``cm`` (a ``(C, C)`` count or rate matrix, rows = targets, or a
    :class:`ConfusionMatrix`) to ``path`` as a PNG heat map with the value in each
    cell; ``normalize`` ("true", "pred", "all") divides counts first, as
    :class:`ConfusionMatrix` does.  Returns the path."""
    counts = cm._state.counts if isinstance(cm, ConfusionMatrix) else np.asarray(cm)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"a confusion matrix is square (C, C), got shape {counts.shape}")
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
    n = counts.shape[0]
    names = [str(i) for i in range(n)] if class_names is None else [str(c) for c in class_names]
    if len(names) != n:
        raise ValueError(f"{len(names)} class names for {n} classes")
    values = normalize_counts(counts, normalize) if normalize else counts
    Figure, FigureCanvasAgg = _matplotlib()
    size = max(4.0, 0.55 * n + 2.0)
    fig = Figure(figsize=(size + 1.0, size), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap=cmap, vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), labels=names, rotation=45 if n > 6 else 0, ha="right" if n > 6
                  else "center")
    ax.set_yticks(range(n), labels=names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or ("confusion matrix" + (f" (normalized: {normalize})"
                                                 if normalize else "")))
    if n <= 30:
        high = float(np.max(values)) if values.size else 0.0
        for i in range(n):
            for j in range(n):
                v = values[i, j]
                text = f"{v:.2f}" if normalize else f"{int(v)}"
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if high and v > 0.6 * high else "black")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path
