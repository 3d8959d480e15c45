"""The confusion-matrix heat map (matplotlib is optional: the 'plot' extra)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from odyssey_training.metrics import ConfusionMatrix
from odyssey_training.metrics.plot import plot_confusion_matrix


def test_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    cm = ConfusionMatrix(3)
    cm.update(np.array([[3.0, 1, 0], [0, 2, 1], [1, 0, 4], [2, 3, 0]]), np.array([0, 1, 2, 0]))
    for normalize in (None, "true"):
        out = plot_confusion_matrix(cm, tmp_path / f"cm_{normalize}.png",
                                    class_names=["cat", "dog", "owl"], normalize=normalize)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="2 class names for 3 classes"):
        plot_confusion_matrix(cm, tmp_path / "x.png", class_names=["a", "b"])
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)), tmp_path / "x.png")


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ImportError, match="'plot' extra"):
        plot_confusion_matrix(np.eye(2, dtype=np.int64), tmp_path / "x.png")
