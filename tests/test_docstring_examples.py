"""The examples in the docstrings of the hand-written modules run and print what
they show (the generated modules' doctests: tests/runtime/test_generated_doctests.py)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["odyssey_training.losses", "odyssey_training.losses.cross_entropy",
           "odyssey_training.losses.mse", "odyssey_training.losses.bce",
           "odyssey_training.data.loader", "odyssey_training.data.idx",
           "odyssey_training.checkpoint", "odyssey_training.checkpoint.tree",
           "odyssey_training.checkpoint.atomic", "odyssey_training.checkpoint.rng",
           "odyssey_training.metrics", "odyssey_training.metrics.accuracy",
           "odyssey_training.metrics.confusion", "odyssey_training.metrics.prf",
           "odyssey_training.metrics.loss", "odyssey_training.metrics.collection"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
