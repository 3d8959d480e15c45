"""The examples in the callbacks' docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["odyssey_training.callbacks.base", "odyssey_training.callbacks.lambda_callback",
           "odyssey_training.callbacks.learning_rate_scheduler",
           "odyssey_training.callbacks.timer"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
