"""``hyper.revalidate`` (a scheduler's new values without a full validation)
against ``validate_group``: whenever it settles new values they are exactly
what a full validation returns, a bad value raises the same error, and it
declines (None) every change that could move a flag, a check's verdict or the
clip: flags, ``max_grad_norm``, hyperparameters that ``[[checks]]`` or derived
flags read (``SpecProgram.reads``, from the spec's expressions), non-numbers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

import odyssey_training.optimizers as optimizers
from odyssey_codegen.api import SpecProgram
from odyssey_training.optimizers.hyper import group_defaults, revalidate, validate_group

NAMES = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Lion"]
NUMBERS = st.one_of(st.floats(-2.0, 2.0), st.integers(-2, 3), st.sampled_from(
    [float("nan"), float("inf"), 0.0, 0.5, 0.999, 1.0, True, "x", None]))


def test_reads_are_the_names_in_flags_and_checks():
    assert SpecProgram(optimizers.SGD.spec).reads == {"momentum", "dampening", "nesterov"}
    assert SpecProgram(optimizers.RMSprop.spec).reads == {"momentum"}
    assert SpecProgram(optimizers.Adam.spec).reads == frozenset()


def _error(fn):
    try:
        return fn(), None
    except (TypeError, ValueError) as e:
        return None, (type(e), str(e))


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_revalidate_agrees_with_a_full_validation(name, data):
    spec = getattr(optimizers, name).spec
    reads = SpecProgram(spec).reads
    keys = list(group_defaults(spec))
    old_group = dict(group_defaults(spec))
    values = validate_group(spec, old_group, name)
    group = dict(old_group)
    for key in data.draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
        old = old_group[key]
        new = (tuple(data.draw(NUMBERS) for _ in old) if isinstance(old, tuple)
               else data.draw(NUMBERS))
        group[key] = old if new == old else new     # equal values are no change (0.0 == False)
    old_fp, new_fp = tuple(old_group[k] for k in keys), tuple(group[k] for k in keys)
    settled, error = _error(lambda: revalidate(spec, reads, old_fp, new_fp, values, name))
    full, full_error = _error(lambda: validate_group(spec, group, name))
    changed = [k for k in keys if group[k] is not old_group[k] and group[k] != old_group[k]]
    hyper_names = {k: (spec.tuples()[k] if k in spec.tuples() else (k,)) for k in keys}
    if error is not None:
        assert error == full_error
    elif settled is None:
        assert any(k in ("max_grad_norm",) or k not in {h.tuple or h.name for h in spec.hypers}
                   or set(hyper_names[k]) & reads
                   or any(type(v) not in (int, float)
                          for v in (group[k] if isinstance(group[k], tuple) else (group[k],)))
                   for k in changed)
    else:
        assert full_error is None and settled == full and list(settled) == list(full)
        assert not any(set(hyper_names[k]) & reads for k in changed)


@pytest.mark.parametrize("new", [np.float64(0.1), np.array(0.1), (0.1,), 1])
def test_an_equal_value_of_another_kind_is_a_change(new):
    """Only the same object, or an equal plain number of the same type, is no change:
    an equal array (or tensor) can change in place later, unseen, so it is declined
    (None: a full validation); an int for a float is checked as a new value."""
    spec = optimizers.SGD.spec
    keys = list(group_defaults(spec))
    old_group = dict(group_defaults(spec), lr=0.1 if new != 1 else 1.0)
    values = validate_group(spec, old_group, "SGD")
    new_fp = tuple(new if k == "lr" else old_group[k] for k in keys)
    old_fp = tuple(old_group[k] for k in keys)
    settled = revalidate(spec, SpecProgram(spec).reads, old_fp, new_fp, values, "SGD")
    if new == 1:
        assert settled == values and type(settled["lr"]) is float
    else:
        assert settled is None
