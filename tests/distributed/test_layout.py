"""The flat bucket and shard layout, and the tree transport, checked against
NumPy concatenation (no MPI needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from odyssey_training.distributed.buckets import ALONE_BYTES, FlatLayout
from odyssey_training.distributed.transport import pack, unpack

pytestmark = pytest.mark.nokernel

shapes = st.lists(st.tuples(st.lists(st.integers(0, 5), max_size=3),
                            st.sampled_from([np.float32, np.float64])), min_size=1, max_size=7)


@given(shapes, st.integers(1, 64), st.integers(1, 5))
def test_buckets_and_shards_tile_each_flat_space(spec, bucket_bytes, world):
    arrays = [np.arange(math.prod(s), dtype=d).reshape(s) + 1000 * i
              for i, (s, d) in enumerate(spec)]
    layout = FlatLayout(arrays, bucket_bytes, world)
    for dtype in {a.dtype for a in arrays if a.size}:
        flat = np.concatenate([a.ravel() for a in arrays if a.dtype == dtype])
        assert layout.totals[dtype] == flat.size
        buckets = [b for b in layout.buckets if b.dtype == dtype]
        cap = max(1, bucket_bytes // dtype.itemsize)
        alone = min(ALONE_BYTES // dtype.itemsize, cap)
        assert [b.start for b in buckets] == [0] + [b.stop for b in buckets[:-1]]
        assert buckets[-1].stop == flat.size
        for b in buckets:
            assert b.stop - b.start <= cap
            packed = np.concatenate([arrays[s.index].ravel()[s.lo:s.hi] for s in b.segments])
            np.testing.assert_array_equal(packed, flat[b.start:b.stop])
            counts, size = layout.counts(b), b.stop - b.start
            if len(b.segments) > 1:          # padded to equal slots
                assert counts.tolist() == [-(-size // world)] * world
            else:                            # an even split of the tensor's part
                assert counts.sum() == size and counts.max() - counts.min() <= 1
            for seg in b.segments:
                size = arrays[seg.index].size
                if size >= alone:           # large: buckets of its own
                    assert len(b.segments) == 1
                else:                       # small: whole, in one bucket
                    assert (seg.lo, seg.hi) == (0, size)
        sizes = [layout.shard_size(dtype, r) for r in range(world)]
        assert sum(sizes) == sum(int(layout.counts(b).sum()) for b in buckets)
        assert max(sizes) - min(sizes) <= len(buckets)
        owner = np.full(flat.size, -1)
        for r in range(world):
            shard = np.zeros(sizes[r], dtype)
            for d, s, at in layout.pieces(r):
                if d == dtype:
                    assert (owner[s.at:s.at + s.hi - s.lo] == -1).all()     # owned once
                    owner[s.at:s.at + s.hi - s.lo] = r
                    shard[at:at + s.hi - s.lo] = arrays[s.index].ravel()[s.lo:s.hi]
            # the shard is the rank's slots of each bucket (padding is zeros), in order
            want = []
            for b in buckets:
                counts = layout.counts(b)
                content = np.zeros(int(counts.sum()), dtype)
                content[:b.stop - b.start] = flat[b.start:b.stop]
                want.append(content[int(counts[:r].sum()):int(counts[:r + 1].sum())])
            np.testing.assert_array_equal(shard, np.concatenate(want))
        assert (owner >= 0).all()


def test_large_tensors_go_alone_and_small_ones_share_buckets():
    n = ALONE_BYTES // 4
    sizes = [n, 5, 30, n - 1, 7, 3 * n + 2]
    arrays = [np.zeros(k, np.float32) for k in sizes]
    layout = FlatLayout(arrays, bucket_bytes=8 * n, world_size=2)     # 2n float32 a bucket
    assert [[(s.index, s.lo, s.hi) for s in b.segments] for b in layout.buckets] == [
        [(0, 0, n)], [(1, 0, 5), (2, 0, 30), (3, 0, n - 1), (4, 0, 7)],
        [(5, 0, 2 * n)], [(5, 2 * n, 3 * n + 2)]]
    shared = layout.buckets[1]
    size = shared.stop - shared.start
    assert layout.counts(shared).tolist() == [(size + 1) // 2] * 2       # padded
    assert layout.counts(layout.buckets[3]).tolist() == [n // 2 + 1] * 2    # n + 2 elements
    assert layout.shard_size(np.dtype(np.float32), 0) == sum(
        int(layout.counts(b)[0]) for b in layout.buckets)


def test_a_tree_survives_the_byte_transport_exactly():
    tree = {"state": {0: {"step": 3.0, "exp_avg": np.arange(6, dtype=np.float32).reshape(2, 3)},
                      1: {"step": 1, "buf": np.zeros((0, 4))}},
            "groups": [{"lr": 0.1, "betas": (0.9, 0.999), "best": -math.inf, "nan": math.nan}],
            "counts": np.array([[1, 2], [3, 4]], np.int64), "scalar": np.float32(0.5),
            "flag": True, "none": None, "name": "é"}
    buf = pack(tree)
    assert buf.dtype == np.uint8
    back = unpack(buf)
    assert back["groups"][0]["betas"] == (0.9, 0.999) and math.isnan(back["groups"][0]["nan"])
    back["groups"][0]["nan"] = tree["groups"][0]["nan"] = 0.0
    np.testing.assert_equal(back, tree)
    assert back["state"][0]["exp_avg"].dtype == np.float32 and isinstance(back["scalar"],
                                                                          np.float32)
    buf[:] = 0                                       # the arrays are copies
    assert back["counts"][1, 1] == 4
