"""Any nested state (dicts with any scalar keys, lists, tuples, JSON scalars,
non-finite floats, NumPy arrays and scalars of every storable dtype, 0-d and
empty) survives flatten -> standard JSON -> unflatten and a real checkpoint file
exactly; malformed documents are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from odyssey_training.checkpoint import (CheckpointError, flatten, load_checkpoint,
                                         read_checkpoint, save_checkpoint, unflatten)
from odyssey_training.checkpoint.tree import DTYPES

from .helpers import assert_same

pytestmark = pytest.mark.nokernel

DTYPE_LIST = sorted(DTYPES, key=str)
arrays = st.sampled_from(DTYPE_LIST).flatmap(lambda dt: hnp.arrays(
    dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)))
numpy_scalars = arrays.filter(lambda a: a.ndim == 0).map(lambda a: a[()])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
                    st.sampled_from(["$tensor", "$map", "a/b", ""]))
keys = st.one_of(st.text(max_size=5), st.sampled_from(["$tensor", "$x", "a/b", "0"]),
                 st.integers(-5, 5), st.floats(allow_nan=False), st.booleans(), st.none())
trees = st.recursive(
    st.one_of(scalars, arrays, numpy_scalars),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.lists(inner, max_size=3).map(tuple),
                            st.dictionaries(keys, inner, max_size=3)),
    max_leaves=12)


def strict_json(document):
    def refuse(name):
        raise AssertionError(f"non-standard JSON constant {name}")
    return json.loads(json.dumps(document, allow_nan=False), parse_constant=refuse)


@given(trees)
def test_flatten_round_trips_through_standard_json(tree):
    document, tensors = flatten(tree, "x")
    assert all(isinstance(k, str) and k.startswith("x") for k in tensors)
    assert_same(unflatten(strict_json(document), tensors), tree)


@given(st.dictionaries(st.text(max_size=4), trees, max_size=3))
def test_round_trip_through_a_checkpoint_file(tmp_path_factory, extra):
    path = tmp_path_factory.mktemp("tree") / "c.safetensors"
    save_checkpoint(path, extra=extra)
    assert_same(load_checkpoint(path), extra)
    assert_same(read_checkpoint(path)["extra"], extra)


def test_arrays_are_stored_contiguous_native_and_exact():
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    tree = {"strided": base[:, ::2], "fortran": np.asfortranarray(base),
            "big_endian": base.astype(">i4"), "zero_d": np.array(7, np.uint16),
            "empty": np.zeros((0, 3), np.float32), "bool": np.array([True, False])}
    document, tensors = flatten(tree, "t")
    assert all(a.flags.c_contiguous and a.dtype.isnative for a in tensors.values())
    back = unflatten(document, tensors)
    np.testing.assert_array_equal(back["strided"], base[:, ::2])
    assert back["big_endian"].dtype == np.dtype("=i4")
    assert back["zero_d"].shape == () and back["empty"].shape == (0, 3)


@pytest.mark.parametrize("value, match", [
    (object(), "t is a object"),
    ({"k": {1, 2}}, "t/k is a set"),
    ({(1, 2): 3}, "key \\(1, 2\\) of type tuple"),
    ({np.int64(1): 3}, "key np.int64\\(1\\) of type int64"),
    ({"a": np.array(["x"])}, "t/a has dtype <U1"),
    ([np.zeros(2, np.complex128)], "t/0 has dtype complex128"),
    (np.array([object()]), "dtype object"),
])
def test_unsupported_values_name_their_path(value, match):
    with pytest.raises(TypeError, match=match):
        flatten(value, "t")


@pytest.mark.parametrize("document, match", [
    ({"$tensor": "nope"}, "names a tensor 'nope' that the file does not hold"),
    ({"$bad": 1}, "malformed entry"),
    ({"$tensor": "a", "b": 1}, "malformed entry"),
    ({"$float": "1e999"}, "bad \\$float"),
    ({"$tuple": 3}, "must hold a list"),
    ({"$map": [[1]]}, "\\[key, value\\] pairs"),
    ({"$map": [[1, 2], [1, 3]]}, "repeated key 1"),
    ({"$map": [[[1], 2]]}, "bad or repeated key"),
    ([{"$tensor": "a"}, {"$tensor": "a"}], "referenced twice"),
    ({"$scalar": "a"}, "is a scalar but tensor 'a' has shape \\(2,\\)"),
    ({}, "tensors \\['a'\\] are not referenced"),
])
def test_malformed_documents_are_refused(document, match):
    with pytest.raises(CheckpointError, match=match):
        unflatten(document, {"a": np.zeros(2)})
