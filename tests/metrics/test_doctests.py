"""The examples in the metrics docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["odyssey_training.metrics", "odyssey_training.metrics.accuracy",
           "odyssey_training.metrics.confusion", "odyssey_training.metrics.prf",
           "odyssey_training.metrics.loss", "odyssey_training.metrics.collection"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
