"""Flat per-dtype buckets: how gradients and parameters cross ranks.

The tensors of one dtype, in list order, are laid end to end in a *flat space*
of ``T`` elements, cut into buckets of at most ``bucket_bytes``.  A tensor of at
least :data:`ALONE_BYTES` (or of a whole bucket) has buckets of its own (one, or
several when it is larger than a bucket); consecutive smaller tensors share
buckets, never split.  For ZeRO every bucket is split evenly over the ``N``
ranks, rank ``r`` owning its ``r``-th slice, so each collective is balanced
(every rank sends and receives alike); a rank's *shard* is its slices of every
bucket, end to end.  Where the slices can be equal -- a bucket of several
tensors, padded to a multiple of ``N`` in its buffer, or a bucket whose size
divides by ``N`` (large tensors are cut at multiples of ``N``) -- the uniform
collectives run (``Reduce_scatter_block``, ``Allgather``), which MPICH runs
faster than their ``v`` forms.  One collective moves one bucket:

* ``allreduce``: ``Allreduce(SUM)`` per bucket, every rank ends with the sum;
* ``reduce_scatter``: ``Reduce_scatter(SUM)`` per bucket, each rank receives the
  sum over its shard's part of the bucket;
* ``allgather``: ``Allgatherv`` per bucket, each rank contributing its shard's part.

A bucket inside one tensor is communicated in place on a view of that tensor
(no copy at all: copying costs more than a collective's latency from a few
hundred KB on, which is why large tensors are not packed); a bucket of several
tensors is packed with one
``np.concatenate(..., out=)`` into its buffer, and after ``allreduce`` each tensor
wholly inside it becomes a view of that buffer (no copy back): no Python loop
over elements anywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = ["FlatLayout", "Bucket", "Segment", "BucketComm", "ready_grads", "ALONE_BYTES"]

#: tensors from this size on are communicated in place, in buckets of their own
ALONE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Segment:
    """Elements ``[lo, hi)`` of tensor ``index`` (flattened), at ``at`` in the flat space."""
    index: int
    lo: int
    hi: int
    at: int


@dataclass(frozen=True)
class Bucket:
    """Flat elements ``[start, stop)`` of ``dtype``, made of ``segments``."""
    dtype: np.dtype
    start: int
    stop: int
    segments: tuple[Segment, ...]


class FlatLayout:
    """The flat spaces, buckets and shards of ``arrays`` (shapes and dtypes only)."""

    def __init__(self, arrays: Sequence[np.ndarray], bucket_bytes: int, world_size: int) -> None:
        self.world_size = n = world_size
        self.signature = [(a.shape, a.dtype) for a in arrays]
        self.tensors: dict[np.dtype, list[Segment]] = {}   # whole tensors, per dtype
        for index, a in enumerate(arrays):
            if a.size:
                segs = self.tensors.setdefault(a.dtype, [])
                at = segs[-1].at + segs[-1].hi if segs else 0
                segs.append(Segment(index, 0, a.size, at))
        self.totals = {d: s[-1].at + s[-1].hi for d, s in self.tensors.items()}
        self.buckets: list[Bucket] = []
        for dtype, tensors in self.tensors.items():
            cap = max(1, int(bucket_bytes) // dtype.itemsize)
            alone = min(ALONE_BYTES // dtype.itemsize, cap)
            step = cap - cap % n if cap >= n else cap       # cuts at multiples of N
            ranges: list[list[int]] = []
            shared: list[int] | None = None         # the open bucket of small tensors
            for seg in tensors:
                end = seg.at + seg.hi
                if seg.hi >= alone:
                    shared = None
                    ranges += [[a, min(end, a + step)] for a in range(seg.at, end, step)]
                elif shared is not None and end - shared[0] <= cap:
                    shared[1] = end
                else:
                    shared = [seg.at, end]
                    ranges.append(shared)
            for start, stop in ranges:
                self.buckets.append(Bucket(dtype, start, stop, self.segments(dtype, start, stop)))
        self.offsets: dict[Bucket, np.ndarray] = {}   # each rank's offset in its shard
        shard = {d: np.zeros(n, np.int64) for d in self.totals}
        for b in self.buckets:
            self.offsets[b] = shard[b.dtype].copy()
            shard[b.dtype] += self.counts(b)
        self.shard_sizes = shard

    def segments(self, dtype: np.dtype, start: int, stop: int) -> tuple[Segment, ...]:
        """The tensor pieces that make up flat elements ``[start, stop)`` of ``dtype``."""
        out = []
        for seg in self.tensors.get(dtype, ()):
            lo, hi = max(start, seg.at), min(stop, seg.at + seg.hi)
            if lo < hi:
                out.append(Segment(seg.index, lo - seg.at, hi - seg.at, lo))
        return tuple(out)

    def counts(self, bucket: Bucket) -> np.ndarray:
        """Each rank's slots in ``bucket``: ``ceil(size / N)`` each for a bucket of
        several tensors (its buffer is padded), an even split of a one-tensor bucket."""
        size, n = bucket.stop - bucket.start, self.world_size
        if len(bucket.segments) > 1:
            return np.full(n, -(-size // n), np.int64)
        return np.diff([size * r // n for r in range(n + 1)]).astype(np.int64)

    def shard_size(self, dtype: np.dtype, rank: int) -> int:
        """The length of rank ``rank``'s shard of ``dtype`` (padding slots included)."""
        return int(self.shard_sizes[dtype][rank])

    def pieces(self, rank: int) -> list[tuple[np.dtype, Segment, int]]:
        """The tensor pieces of rank ``rank``'s shards, in bucket order, each with its
        position in the rank's shard of its dtype."""
        out = []
        for b in self.buckets:
            counts = self.counts(b)
            lo = b.start + int(counts[:rank].sum())
            first = int(self.offsets[b][rank])
            for seg in self.segments(b.dtype, lo, min(b.stop, lo + int(counts[rank]))):
                out.append((b.dtype, seg, first + seg.at - lo))
        return out


def ready_grads(comm: Any, arrays: Sequence[np.ndarray], grads: list[Any]) -> list[Any]:
    """The gradients to communicate: one ``Allreduce`` of a presence count per tensor
    decides, identically on every rank, that a tensor with no gradient on any rank
    stays None (its optimizer step is skipped, as in one process) and that a rank
    without a gradient where others have one contributes zeros.  The others are
    checked and made C-contiguous and writable (a copy only when needed)."""
    present = np.array([g is not None for g in grads], dtype=np.int32)
    comm.Allreduce(_in_place(), present)
    out: list[Any] = []
    for i, (a, g) in enumerate(zip(arrays, grads)):
        if not present[i]:
            out.append(None)
            continue
        if g is None:
            g = np.zeros_like(a)
        elif not isinstance(g, np.ndarray) or g.shape != a.shape or g.dtype != a.dtype:
            raise ValueError(f"the gradient of parameter {i} is {_describe(g)}; the parameter "
                             f"is {a.shape} {a.dtype}")
        elif not (g.flags.c_contiguous and g.flags.writeable):
            g = np.array(g, order="C")
        out.append(g)
    return out


@dataclass
class _Plan:
    """One bucket's communication, worked out once: MPI datatype, each rank's count
    and displacement, this rank's offset in its shard, whether the counts are equal,
    and (several tensors) its own padded buffer with a view per tensor, in the
    tensor's shape."""
    bucket: Bucket
    kind: Any
    counts: np.ndarray
    displs: np.ndarray
    offset: int
    uniform: bool
    buffer: np.ndarray | None
    whole: list[np.ndarray]


class BucketComm:
    """The three bucket collectives over ``comm`` for one :class:`FlatLayout`.

    A bucket of several tensors has its own buffer (together no larger than the
    small tensors, plus padding), so after ``allreduce`` each of its tensors is
    returned as a view of that buffer, in its shape: the reduced values are never
    copied back.  When such a view comes back as the gradient of the next step (a
    model that accumulates into the gradient it was given), packing skips it.
    """

    def __init__(self, comm: Any, layout: FlatLayout) -> None:
        self.comm, self.layout, self.mpi = comm, layout, _mpi()
        self.rank = comm.Get_rank()
        self.plans = [self._plan(b) for b in layout.buckets]

    def _plan(self, b: Bucket) -> _Plan:
        counts = self.layout.counts(b)
        displs = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        offset = int(self.layout.offsets[b][self.rank])
        buffer, whole = None, []
        if len(b.segments) > 1:
            buffer = np.zeros(int(counts.sum()), b.dtype)
            for s in b.segments:
                shape = self.layout.signature[s.index][0]
                assert s.lo == 0 and s.hi == math.prod(shape), "a shared bucket splits a tensor"
                whole.append(buffer[s.at - b.start:s.at - b.start + s.hi].reshape(shape))
        return _Plan(b, _mpi_type(b.dtype), counts, displs, offset,
                     bool((counts == counts[0]).all()), buffer, whole)

    # ---- gradients ---------------------------------------------------------
    def allreduce(self, grads: Sequence[np.ndarray | None]) -> list[np.ndarray | None]:
        """Sum every gradient over the ranks (None entries are skipped); returns the
        summed gradients: the given arrays, reduced in place, or views of a bucket."""
        mpi, out = self.mpi, list(grads)
        for plan in self.plans:
            b = plan.bucket
            if plan.buffer is None:
                s = b.segments[0]
                if grads[s.index] is not None:
                    self.comm.Allreduce(mpi.IN_PLACE, [_flat(grads[s.index])[s.lo:s.hi],
                                                       plan.kind], mpi.SUM)
                continue
            self._pack(plan, grads)
            self.comm.Allreduce(mpi.IN_PLACE, [plan.buffer, plan.kind], mpi.SUM)
            for s, whole in zip(b.segments, plan.whole):
                if grads[s.index] is not None:
                    out[s.index] = whole
        return out

    def reduce_scatter(self, grads: Sequence[np.ndarray | None],
                       shards: dict[np.dtype, np.ndarray]) -> None:
        """Sum the gradients over the ranks into this rank's ``shards`` (one flat
        array per dtype, of its shard's length)."""
        mpi = self.mpi
        for plan in self.plans:
            b = plan.bucket
            if plan.buffer is not None:
                send = self._pack(plan, grads)
            elif grads[b.segments[0].index] is not None:
                s = b.segments[0]
                send = _flat(grads[s.index])[s.lo:s.hi]
            else:
                send = np.zeros(b.stop - b.start, b.dtype)
            recv = [shards[b.dtype][plan.offset:plan.offset + plan.counts[self.rank]], plan.kind]
            if plan.uniform:
                self.comm.Reduce_scatter_block([send, plan.kind], recv, mpi.SUM)
            else:
                self.comm.Reduce_scatter([send, plan.kind], recv, plan.counts, mpi.SUM)

    # ---- parameters --------------------------------------------------------
    def allgather(self, arrays: Sequence[np.ndarray]) -> None:
        """Every rank's shard of ``arrays`` (updated in place by its optimizer) to
        every rank."""
        mpi = self.mpi
        for plan in self.plans:
            b = plan.bucket
            if plan.buffer is None:
                s = b.segments[0]
                target = _flat(arrays[s.index])[s.lo:s.hi]
            else:
                target = plan.buffer
                lo = b.start + int(plan.displs[self.rank])
                for s in self.layout.segments(b.dtype, lo, lo + int(plan.counts[self.rank])):
                    target[s.at - b.start:s.at - b.start + s.hi - s.lo] = \
                        _flat(arrays[s.index])[s.lo:s.hi]
            if plan.uniform:
                self.comm.Allgather(mpi.IN_PLACE, [target, plan.kind])
            else:
                self.comm.Allgatherv(mpi.IN_PLACE, [target, plan.counts, plan.displs,
                                                    plan.kind])
            if plan.buffer is not None:
                for s, whole in zip(b.segments, plan.whole):
                    np.copyto(arrays[s.index], whole)

    # ---- packing -----------------------------------------------------------
    def _pack(self, plan: _Plan, grads: Sequence[np.ndarray | None]) -> np.ndarray:
        """Copy the bucket's tensors into its buffer (one ``np.concatenate``), except
        those already there (a view this bucket handed out as a gradient)."""
        b = plan.bucket
        sources = [grads[s.index] for s in b.segments]
        if not any(g is w for g, w in zip(sources, plan.whole)):
            np.concatenate([np.zeros(w.shape, b.dtype) if g is None else g
                            for g, w in zip(sources, plan.whole)], axis=None,
                           out=plan.buffer[:b.stop - b.start])
            return plan.buffer
        for g, whole in zip(sources, plan.whole):
            if g is None:
                whole.fill(0)
            elif g is not whole:
                np.copyto(whole, g)
        return plan.buffer


def _flat(arr: np.ndarray) -> np.ndarray:
    """A 1-D view of a C-contiguous array (never a copy)."""
    if not arr.flags.c_contiguous:
        raise ValueError("a communicated array must be C-contiguous")
    return arr.reshape(-1)


def _describe(g: Any) -> str:
    if isinstance(g, np.ndarray):
        return f"{g.shape} {g.dtype}"
    return type(g).__name__


def _mpi() -> Any:
    from mpi4py import MPI
    return MPI


def _in_place() -> Any:
    return _mpi().IN_PLACE


def _mpi_type(dtype: np.dtype) -> Any:
    """The predefined MPI datatype of a parameter dtype (reductions need it)."""
    mpi = _mpi()
    return {np.dtype(np.float32): mpi.FLOAT, np.dtype(np.float64): mpi.DOUBLE}[np.dtype(dtype)]
