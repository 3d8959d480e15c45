"""Every loss against torch.nn.functional + autograd: values and gradients over
random shapes, dtypes, reductions, weights, ignored rows and extreme logits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from odyssey_training.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.nokernel

DTYPES = [np.float32, np.float64]
TOL = {np.dtype(np.float32): dict(rtol=2e-5, atol=2e-6),
       np.dtype(np.float64): dict(rtol=1e-11, atol=1e-13)}


def torch_value_and_grad(fn, x: np.ndarray, *args, **kwargs) -> tuple[float, np.ndarray]:
    xt = torch.tensor(x, requires_grad=True)
    value = fn(xt, *args, **kwargs)
    value.backward()
    return value.item(), xt.grad.numpy()


def assert_matches(ours: tuple[float, np.ndarray], ref: tuple[float, np.ndarray],
                   x: np.ndarray) -> None:
    value, grad = ours
    ref_value, ref_grad = ref
    assert isinstance(value, float)
    assert grad.dtype == x.dtype and grad.shape == x.shape and grad.flags.c_contiguous
    tol = TOL[x.dtype]
    scale = max(1.0, abs(ref_value)) if np.isfinite(ref_value) else 1.0
    np.testing.assert_allclose(value, ref_value, rtol=tol["rtol"], atol=tol["atol"] * scale)
    gscale = max(1.0, float(np.nanmax(np.abs(ref_grad), initial=0.0)))
    np.testing.assert_allclose(grad, ref_grad, rtol=tol["rtol"], atol=tol["atol"] * gscale)


@st.composite
def logits(draw, min_rows=0):
    n = draw(st.integers(min_rows, 7))
    c = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from(DTYPES))
    scale = draw(st.sampled_from([1.0, 30.0, 1e3, 1e4]))   # 1e4 overflows a naive exp
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, c)) * scale).astype(dtype), rng


@given(logits(), st.sampled_from(["mean", "sum"]), st.sampled_from([0.0, 0.1, 0.5, 1.0]),
       st.booleans(), st.booleans())
def test_cross_entropy_class_indices(drawn, reduction, smoothing, weighted, some_ignored):
    x, rng = drawn
    n, c = x.shape
    targets = rng.integers(0, c, size=n)
    if some_ignored and n > 1:
        targets[rng.random(n) < 0.4] = -100
        targets[0] = rng.integers(0, c)        # keep the mean defined
    weight = rng.uniform(0.1, 3.0, size=c) if weighted else None
    loss = CrossEntropyLoss(weight=weight, reduction=reduction, label_smoothing=smoothing)
    ours = loss(x, targets)
    wt = None if weight is None else torch.tensor(weight.astype(x.dtype))
    ref = torch_value_and_grad(F.cross_entropy, x, torch.tensor(targets), weight=wt,
                               reduction=reduction, label_smoothing=smoothing)
    assert_matches(ours, ref, x)


@given(logits(), st.sampled_from(["mean", "sum"]), st.sampled_from([0.0, 0.2]), st.booleans())
def test_cross_entropy_probabilities(drawn, reduction, smoothing, weighted):
    x, rng = drawn
    n, c = x.shape
    probs = rng.dirichlet(np.ones(c), size=n).astype(x.dtype) if n else np.zeros((0, c), x.dtype)
    weight = rng.uniform(0.1, 3.0, size=c) if weighted else None
    ours = CrossEntropyLoss(weight=weight, reduction=reduction, label_smoothing=smoothing)(x, probs)
    wt = None if weight is None else torch.tensor(weight.astype(x.dtype))
    ref = torch_value_and_grad(F.cross_entropy, x, torch.tensor(probs), weight=wt,
                               reduction=reduction, label_smoothing=smoothing)
    assert_matches(ours, ref, x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target_dtype", [np.int64, np.int32, np.uint8, np.int16])
def test_cross_entropy_integer_target_dtypes(dtype, target_dtype):
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(dtype)
    targets = np.array([0, 2, 1, 1, 0], dtype=target_dtype)
    ref = torch_value_and_grad(F.cross_entropy, x, torch.tensor(targets.astype(np.int64)))
    assert_matches(CrossEntropyLoss()(x, targets), ref, x)


def test_cross_entropy_in_range_ignore_index_and_all_ignored():
    x = np.random.default_rng(1).standard_normal((4, 3))
    targets = np.array([0, 2, 1, 2])
    cases = [(targets, 0.0), (targets, 0.3), (np.full(4, 2), 0.3), (np.full(4, 2), 0.0)]
    for t, smoothing in cases:
        ours = CrossEntropyLoss(ignore_index=2, label_smoothing=smoothing)(x, t)
        ref = torch_value_and_grad(F.cross_entropy, x, torch.tensor(t), ignore_index=2,
                                   label_smoothing=smoothing)
        if np.isnan(ref[0]):          # every row ignored: NaN value, zero gradient (torch)
            assert np.isnan(ours[0]) and not ours[1].any() and not ref[1].any()
        else:
            assert_matches(ours, ref, x)


def test_cross_entropy_empty_batch_is_nan_like_torch():
    x = np.zeros((0, 3), np.float32)
    value, grad = CrossEntropyLoss()(x, np.zeros(0, np.int64))
    ref_value, _ = torch_value_and_grad(F.cross_entropy, x, torch.zeros(0, dtype=torch.long))
    assert np.isnan(value) and np.isnan(ref_value) and grad.shape == (0, 3)
    assert CrossEntropyLoss(reduction="sum")(x, np.zeros(0, np.int64))[0] == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_extreme_logits_stay_finite(dtype):
    big = 3e38 if dtype == np.float32 else 1e300
    x = np.array([[big / 4, -big / 4, 0.0], [-1e4, 1e4, 5.0]], dtype)
    value, grad = CrossEntropyLoss()(x, np.array([0, 2]))
    ref = torch_value_and_grad(F.cross_entropy, x, torch.tensor([0, 2]))
    assert np.isfinite(value) and np.isfinite(grad).all()
    assert_matches((value, grad), ref, x)


@given(st.integers(0, 4), st.integers(1, 5), st.sampled_from(DTYPES),
       st.sampled_from(["mean", "sum"]), st.integers(0, 2**32 - 1))
def test_mse(n, m, dtype, reduction, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, m)) * 10).astype(dtype)
    y = rng.standard_normal((n, m)).astype(dtype)
    ours = MSELoss(reduction=reduction)(x, y)
    ref = torch_value_and_grad(F.mse_loss, x, torch.tensor(y), reduction=reduction)
    if n == 0 and reduction == "mean":
        assert np.isnan(ours[0]) and np.isnan(ref[0]) and ours[1].shape == x.shape
    else:
        assert_matches(ours, ref, x)


def test_mse_integer_targets_are_cast():
    x = np.array([[0.5, 1.5]], np.float32)
    ours = MSELoss()(x, np.array([[1, 1]]))
    ref = torch_value_and_grad(F.mse_loss, x, torch.tensor([[1.0, 1.0]]))
    assert_matches(ours, ref, x)


@given(logits(min_rows=1), st.sampled_from(["mean", "sum"]), st.booleans(),
       st.sampled_from(["none", "class", "full"]))
def test_bce_with_logits(drawn, reduction, with_pos_weight, weight_kind):
    x, rng = drawn
    n, c = x.shape
    y = rng.random((n, c)).astype(x.dtype)
    hard = rng.random((n, c)) < 0.5            # a mix of hard 0/1 labels and soft targets
    y[hard] = np.round(y[hard])
    pos_weight = rng.uniform(0.2, 4.0, size=c) if with_pos_weight else None
    weight = {"none": None, "class": rng.uniform(0.1, 2.0, size=c),
              "full": rng.uniform(0.1, 2.0, size=(n, c))}[weight_kind]
    loss = BCEWithLogitsLoss(weight=weight, reduction=reduction, pos_weight=pos_weight)
    as_t = lambda a: None if a is None else torch.tensor(a.astype(x.dtype))  # noqa: E731
    ref = torch_value_and_grad(F.binary_cross_entropy_with_logits, x, torch.tensor(y),
                               weight=as_t(weight), pos_weight=as_t(pos_weight),
                               reduction=reduction)
    assert_matches(loss(x, y), ref, x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_extreme_logits_stay_finite(dtype):
    x = np.array([1e4, -1e4, 80.0, -80.0, 0.0, 1e30], dtype)
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.0], dtype)
    value, grad = BCEWithLogitsLoss(pos_weight=[2.0])(x, y)
    ref = torch_value_and_grad(F.binary_cross_entropy_with_logits, x, torch.tensor(y),
                               pos_weight=torch.tensor(np.array([2.0], dtype)))
    assert np.isfinite(value) and np.isfinite(grad).all()
    assert_matches((value, grad), ref, x)
