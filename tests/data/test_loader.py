"""ArrayLoader: seeded epoch orders, drop_last, exact mid-epoch resume from a
JSON round-tripped state, and rank shards that add up to the global batch."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from odyssey_training.data import ArrayLoader, Loader

pytestmark = pytest.mark.nokernel


def dataset(n: int, features: tuple[int, ...] = (3,)):
    x = np.arange(n * math.prod(features), dtype=np.float32).reshape(n, *features)
    y = np.arange(n) * 10
    return x, y


def reference_epoch(n: int, batch: int, seed: int, epoch: int, shuffle: bool, drop_last: bool):
    """The documented order, written out: default_rng((seed, epoch)).permutation."""
    order = np.random.default_rng((seed, epoch)).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch if drop_last else n
    return [order[i:min(i + batch, stop)] for i in range(0, stop, batch)]


@given(st.integers(1, 40), st.integers(1, 12), st.integers(0, 2**31), st.booleans(),
       st.booleans())
def test_epochs_follow_the_seeded_order(n, batch, seed, shuffle, drop_last):
    if drop_last and n < batch:
        return
    x, y = dataset(n)
    loader = ArrayLoader(x, y, batch, shuffle=shuffle, seed=seed, drop_last=drop_last)
    assert isinstance(loader, Loader)
    assert len(loader) == (n // batch if drop_last else math.ceil(n / batch))
    for epoch in range(3):
        assert loader.epoch == epoch and loader.position == 0
        got = list(loader)
        want = reference_epoch(n, batch, seed, epoch, shuffle, drop_last)
        assert len(got) == len(want) == len(loader)
        for (xb, yb), index in zip(got, want):
            assert xb.flags.c_contiguous and yb.flags.c_contiguous
            np.testing.assert_array_equal(xb, x[index])
            np.testing.assert_array_equal(yb, y[index])


def test_epoch_order_is_independent_of_history():
    x, y = dataset(23)
    a = ArrayLoader(x, y, 5, seed=7)
    for _ in range(3):
        list(a)
    b = ArrayLoader(x, y, 5, seed=7)
    b.set_epoch(3)
    for (xa, _), (xb, _) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
    c = ArrayLoader(x, y, 5, seed=8)
    assert not all(np.array_equal(p, q) for (p, _), (q, _) in zip(ArrayLoader(x, y, 5, seed=7), c))


def drain(loader: ArrayLoader, batches: int) -> list[np.ndarray]:
    """The targets of the next ``batches`` batches, across epochs."""
    out: list[np.ndarray] = []
    while len(out) < batches:
        for _, yb in loader:
            out.append(yb.copy())
            if len(out) == batches:
                break
    return out


@given(st.integers(1, 30), st.integers(1, 8), st.booleans(), st.booleans(),
       st.integers(0, 40), st.integers(1, 25), st.integers(0, 100))
def test_resume_yields_exactly_the_remaining_batches(n, batch, shuffle, drop_last, done, more,
                                                     seed):
    if drop_last and n < batch:
        return
    x, y = dataset(n)
    make = lambda: ArrayLoader(x, y, batch, shuffle=shuffle, seed=seed, drop_last=drop_last)  # noqa: E731
    straight = drain(make(), done + more)
    first = make()
    drain(first, done)
    state = json.loads(json.dumps(first.state_dict()))
    assert state == first.state_dict()
    assert (state["epoch"], state["position"]) == divmod(done, len(first))
    resumed = make()
    resumed.load_state_dict(state)
    rest = drain(resumed, more)
    for want, got in zip(straight[done:], rest, strict=True):
        np.testing.assert_array_equal(want, got)


def test_breaking_out_continues_the_same_epoch_and_completion_starts_the_next():
    x, y = dataset(10)
    loader = ArrayLoader(x, y, 3, seed=2)
    whole = [yb for _, yb in ArrayLoader(x, y, 3, seed=2)]
    it = iter(loader)
    np.testing.assert_array_equal(next(it)[1], whole[0])
    assert loader.state_dict()["position"] == 1
    rest = [yb for _, yb in loader]                     # a new iteration: the rest of epoch 0
    assert len(rest) == 3 and all(np.array_equal(a, b) for a, b in zip(rest, whole[1:]))
    assert (loader.epoch, loader.position) == (1, 0)
    with pytest.raises(RuntimeError, match="ended by a new iteration"):
        next(it)                                        # the abandoned iterator is dead


@given(st.integers(1, 50), st.integers(1, 6), st.integers(1, 4), st.booleans(), st.booleans(),
       st.integers(0, 99))
def test_rank_shards_add_up_to_the_global_batch(n, batch, world, shuffle, drop_last, seed):
    if drop_last and n < batch * world:
        return
    x, y = dataset(n, (2, 2))
    single = ArrayLoader(x, y, batch * world, shuffle=shuffle, seed=seed, drop_last=drop_last)
    ranks = [ArrayLoader(x, y, batch, shuffle=shuffle, seed=seed, drop_last=drop_last,
                         rank=r, world_size=world) for r in range(world)]
    assert {len(r) for r in ranks} == {len(single)}
    for _ in range(2):                                    # two epochs
        for (xg, yg), *parts in zip(single, *ranks, strict=True):
            np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), xg)
            np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), yg)
            sizes = [len(p[1]) for p in parts]
            assert max(sizes) - min(sizes) <= 1
            if len(yg) == batch * world:
                assert sizes == [batch] * world
    assert ranks[0].state_dict() == single.state_dict()   # one state, valid on every rank


def test_unshuffled_batches_are_read_only_views_and_shuffled_ones_copies():
    x, y = dataset(6)
    xb, yb = next(iter(ArrayLoader(x, y, 4, shuffle=False)))
    assert np.shares_memory(xb, x) and not xb.flags.writeable and not yb.flags.writeable
    xb, yb = next(iter(ArrayLoader(x, y, 4)))
    assert not np.shares_memory(xb, x) and xb.flags.writeable
    xf = np.asfortranarray(np.arange(12.0).reshape(6, 2))
    xb, _ = next(iter(ArrayLoader(xf, y, 4, shuffle=False)))
    assert xb.flags.c_contiguous
    np.testing.assert_array_equal(xb, xf[:4])


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(x=np.zeros((3, 2)), y=np.zeros(4), batch_size=2), ValueError, "3 samples but y has 4"),
    (dict(batch_size=0), ValueError, "batch_size must be an integer >= 1, got 0"),
    (dict(batch_size=2.0), ValueError, "batch_size must be an integer"),
    (dict(batch_size=True), ValueError, "batch_size must be an integer"),
    (dict(seed=-1), ValueError, "seed must be an integer >= 0"),
    (dict(shuffle="yes"), TypeError, "shuffle must be True or False"),
    (dict(drop_last=1), TypeError, "drop_last must be True or False"),
    (dict(rank=2, world_size=2), ValueError, "rank 2 is not below world_size 2"),
    (dict(world_size=0), ValueError, "world_size must be an integer >= 1"),
    (dict(x=np.zeros((0, 2)), y=np.zeros(0)), ValueError, "no batches \\(no samples\\)"),
    (dict(batch_size=8, drop_last=True), ValueError, "5 samples, fewer than one global batch of 8"),
    (dict(x=np.float32(1.0)), ValueError, "x must have a first"),
    (dict(y=np.array([None] * 5)), TypeError, "y has dtype object"),
])
def test_bad_arguments(kwargs, error, match):
    args = dict(x=np.zeros((5, 2)), y=np.zeros(5), batch_size=2) | kwargs
    with pytest.raises(error, match=match):
        ArrayLoader(**args)


def test_bad_states_change_nothing():
    x, y = dataset(10)
    loader = ArrayLoader(x, y, 3, seed=4)
    drain(loader, 2)
    before = loader.state_dict()
    bad = [({"epoch": 0}, "'epoch' and 'position'"),
           (before | {"position": 4}, "position 4 is past the 4 batches"),
           (before | {"epoch": -1}, "epoch must be an integer >= 0"),
           (before | {"seed": 5}, "the state is for seed=5, this loader has seed=4"),
           (before | {"global_batch_size": 6}, "global_batch_size=6"),
           (before | {"extra": 1}, "unknown key 'extra'"),
           ([1, 2], "expected a dict")]
    for state, match in bad:
        with pytest.raises(ValueError, match=match):
            loader.load_state_dict(state)
        assert loader.state_dict() == before
    loader.load_state_dict({"epoch": 5, "position": 1})     # configuration keys are optional
    assert (loader.epoch, loader.position) == (5, 1)


def test_len_and_repr():
    x, y = dataset(10)
    assert [len(ArrayLoader(x, y, b)) for b in (1, 3, 10, 11)] == [10, 4, 1, 1]
    assert [len(ArrayLoader(x, y, b, drop_last=True)) for b in (1, 3, 10)] == [10, 3, 1]
    assert len(ArrayLoader(x, y, 2, rank=1, world_size=3)) == 2
    assert "rank=1, world_size=3" in repr(ArrayLoader(x, y, 2, rank=1, world_size=3))
    assert list(itertools.islice(ArrayLoader(x, y, 4, shuffle=False), 1))[0][1].tolist() == [
        0, 10, 20, 30]
