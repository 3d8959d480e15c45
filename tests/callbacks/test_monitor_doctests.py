"""The examples in the EarlyStopping and TerminateOnNaN docstrings run and print
what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["odyssey_training.callbacks.early_stopping",
           "odyssey_training.callbacks.terminate_on_nan"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
