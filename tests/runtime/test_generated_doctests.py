"""The doctest in every generated module's docstring (and the package's) runs."""

import doctest
import importlib

import pytest

import odyssey_training
from odyssey_training.generated import MODULES


@pytest.mark.parametrize("module", sorted(MODULES))
def test_generated_doctest(module):
    mod = importlib.import_module(f"odyssey_training.generated.{module}")
    result = doctest.testmod(mod)
    assert result.attempted >= 5 and result.failed == 0
    cls = getattr(mod, MODULES[module])
    for h in cls.spec.hypers:
        assert h.name in cls.__doc__ or (h.tuple and h.tuple in cls.__doc__)
    for st in cls.spec.statements:
        assert st.text in cls.__doc__


def test_package_doctest():
    result = doctest.testmod(odyssey_training)
    assert result.attempted > 0 and result.failed == 0
