"""State buffers start on a cache line (optimizers/buffers.py): the ones a step
creates and the ones load_state_dict restores, with the values np.full and a
plain copy would hold."""

from __future__ import annotations

import numpy as np
import pytest

import odyssey_training as ot
from odyssey_training.optimizers import SGD, Adam
from odyssey_training.optimizers.buffers import CACHE_LINE, aligned_copy, aligned_full


@pytest.mark.parametrize("shape", [(), (0,), (1,), (7, 3), (40_001,)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_aligned_arrays_hold_what_numpy_would(shape, dtype):
    full = aligned_full(shape, 0.25, dtype)
    np.testing.assert_array_equal(full, np.full(shape, 0.25, dtype))
    values = np.random.default_rng(0).standard_normal(shape)
    copy = aligned_copy(values, dtype)
    np.testing.assert_array_equal(copy, values.astype(dtype))
    for a in (full, copy):
        assert a.dtype == dtype and a.shape == shape and a.flags.c_contiguous
        assert a.flags.writeable and (a.size == 0 or a.ctypes.data % CACHE_LINE == 0)
    assert not np.shares_memory(copy, values)  # a copy, independent of its source


def _buffers(opt):
    return [v for entry in opt.state.values() for k, v in entry.items() if k != "step"]


@pytest.mark.parametrize("cls,kw", [(SGD, {"lr": 0.1, "momentum": 0.9}), (Adam, {})])
def test_optimizer_state_buffers_are_cache_line_aligned(cls, kw):
    rng = np.random.default_rng(1)
    params = [ot.Parameter(rng.standard_normal(n).astype(np.float32)) for n in (5, 3001, 70_000)]
    opt = cls(params, **kw)
    for p in params:
        p.grad = rng.standard_normal(p.data.shape).astype(np.float32)
    opt.step()
    saved = opt.state_dict()
    assert _buffers(opt) and all(b.ctypes.data % CACHE_LINE == 0 for b in _buffers(opt))
    other = cls(params, **kw)
    other.load_state_dict(saved)
    assert all(b.ctypes.data % CACHE_LINE == 0 for b in _buffers(other))
    for mine, theirs in zip(_buffers(opt), _buffers(other)):
        np.testing.assert_array_equal(mine, theirs)
