"""Bad arguments and inputs get a clear error naming the value, before any math."""

from __future__ import annotations

import numpy as np
import pytest

from odyssey_training.losses import BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss

pytestmark = pytest.mark.nokernel

X = np.zeros((3, 4), np.float32)


@pytest.mark.parametrize("make", [CrossEntropyLoss, MSELoss, BCEWithLogitsLoss])
def test_reductions(make):
    assert isinstance(make(), Loss)
    with pytest.raises(ValueError, match="reduction='none' is not supported"):
        make(reduction="none")
    with pytest.raises(ValueError, match="'mean' or 'sum'.*'avg'"):
        make(reduction="avg")


@pytest.mark.parametrize("loss, targets", [
    (CrossEntropyLoss(), np.zeros(3, np.int64)),
    (MSELoss(), np.zeros((3, 4))),
    (BCEWithLogitsLoss(), np.zeros((3, 4))),
])
@pytest.mark.parametrize("outputs, error, match", [
    ([[0.0] * 4] * 3, TypeError, "numpy.ndarray, got list"),
    (np.zeros((3, 4), np.int32), TypeError, "dtype int32"),
    (np.zeros((3, 4), np.float16), TypeError, "dtype float16"),
])
def test_outputs_must_be_float_arrays(loss, targets, outputs, error, match):
    with pytest.raises(error, match=match):
        loss(outputs, targets)


@pytest.mark.parametrize("outputs, targets, match", [
    (np.zeros(4, np.float32), np.zeros(4, np.int64), r"shape \(N, C\).*\(4,\)"),
    (np.zeros((3, 0), np.float32), np.zeros(3, np.int64), r"C >= 1"),
    (np.zeros((2, 4, 5)), np.zeros(2, np.int64), r"\(2, 4, 5\)"),
    (X, np.zeros(2, np.int64), r"integer array of shape \(3,\).*got int64 of shape \(2,\)"),
    (X, np.zeros(3, np.float32), r"got float32 of shape \(3,\)"),
    (X, np.zeros(3, bool), r"got bool"),
    (X, np.zeros((3, 3), np.float32), r"float array of shape \(3, 4\)"),
    (X, np.array([0, 4, 1]), "target 4 is out of range for 4 classes"),
    (X, np.array([0, -1, 1]), "target -1 is out of range"),
])
def test_cross_entropy_bad_inputs(outputs, targets, match):
    with pytest.raises(ValueError, match=match):
        CrossEntropyLoss()(outputs, targets)


def test_cross_entropy_bad_arguments():
    with pytest.raises(ValueError, match=r"label_smoothing.*\[0, 1\].*1.5"):
        CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        CrossEntropyLoss(label_smoothing=-0.1)
    with pytest.raises(TypeError, match="ignore_index must be an int"):
        CrossEntropyLoss(ignore_index=1.5)
    with pytest.raises(ValueError, match="1-D"):
        CrossEntropyLoss(weight=[[1.0, 2.0]])
    with pytest.raises(ValueError, match="finite"):
        CrossEntropyLoss(weight=[1.0, np.nan])
    with pytest.raises(TypeError, match="array of numbers"):
        CrossEntropyLoss(weight=["a", "b"])
    with pytest.raises(ValueError, match="weight has 3 entries but the logits have 4 classes"):
        CrossEntropyLoss(weight=[1.0, 1.0, 1.0])(X, np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="ignore_index=0 is not supported with probability"):
        CrossEntropyLoss(ignore_index=0)(X, np.full((3, 4), 0.25, np.float32))


def test_elementwise_losses_need_matching_targets():
    for loss in (MSELoss(), BCEWithLogitsLoss()):
        with pytest.raises(ValueError, match=r"targets have shape \(3,\), outputs \(3, 4\)"):
            loss(X, np.zeros(3))
        with pytest.raises(TypeError, match="dtype <U1"):
            loss(X, np.full((3, 4), "a"))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\) does not broadcast"):
        BCEWithLogitsLoss(pos_weight=[1.0, 2.0, 3.0])(X, np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"weight of shape \(2, 1\) does not broadcast"):
        BCEWithLogitsLoss(weight=[[1.0], [2.0]])(X, np.zeros((3, 4)))


def test_inputs_are_not_modified_and_repr():
    x = np.random.default_rng(0).standard_normal((3, 4))
    y = np.random.default_rng(1).random((3, 4))
    before = (x.copy(), y.copy())
    for loss, t in ((CrossEntropyLoss(label_smoothing=0.1), y), (MSELoss(), y),
                    (BCEWithLogitsLoss(), y), (CrossEntropyLoss(), np.array([0, 1, 3]))):
        _, grad = loss(x, t)
        assert grad is not x and not np.shares_memory(grad, x)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(y, before[1])
    assert repr(CrossEntropyLoss(label_smoothing=0.1)) == (
        "CrossEntropyLoss(weight=None, ignore_index=-100, reduction='mean', label_smoothing=0.1)")
    assert repr(MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"
