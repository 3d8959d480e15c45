"""Fixtures of the main job's tests."""

import pytest


@pytest.fixture
def no_plots(monkeypatch):
    """Skip drawing the PNGs (matplotlib takes most of a short run's time) in tests
    that check something else; the end-to-end test draws them."""
    import odyssey_training.job.plots as plots
    monkeypatch.setattr(plots, "plot_curves", lambda *a, **k: None)
    monkeypatch.setattr(plots, "plot_confusion_matrix", lambda *a, **k: None)
