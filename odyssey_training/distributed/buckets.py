"""Flat per-dtype buckets: how gradients and parameters cross ranks.

The tensors of one dtype, in list order, are laid end to end in a *flat space*
of ``T`` elements.  That space is cut into buckets of at most ``bucket_bytes``
(a tensor larger than a bucket spans several) and, for ZeRO, into ``N``
contiguous shards, rank ``r`` owning ``[r*T//N, (r+1)*T//N)``.  One collective
moves one bucket:

* ``allreduce``: ``Allreduce(SUM)`` per bucket, every rank ends with the sum;
* ``reduce_scatter``: ``Reduce_scatter(SUM)`` per bucket, each rank receives the
  sum over its shard's part of the bucket;
* ``allgather``: ``Allgatherv`` per bucket, each rank contributing its shard's part.

A bucket inside one tensor is communicated in place on a view of that tensor
(no copy at all); a bucket of several tensors is packed with one
``np.concatenate(..., out=)`` into a reused scratch buffer and unpacked with one
``np.copyto`` per tensor piece: no Python loop over elements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = ["FlatLayout", "Bucket", "Segment", "BucketComm", "ready_grads"]


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
        self.world_size = world_size
        self.signature = [(a.shape, a.dtype) for a in arrays]
        self.tensors: dict[np.dtype, list[Segment]] = {}   # whole tensors, per dtype
        for index, a in enumerate(arrays):
            if a.size:
                segs = self.tensors.setdefault(a.dtype, [])
                at = segs[-1].at + segs[-1].hi if segs else 0
                segs.append(Segment(index, 0, a.size, at))
        self.totals = {d: s[-1].at + s[-1].hi for d, s in self.tensors.items()}
        self.bounds = {d: [r * t // world_size for r in range(world_size + 1)]
                       for d, t in self.totals.items()}
        self.buckets: list[Bucket] = []
        for dtype, total in self.totals.items():
            cap = max(1, int(bucket_bytes) // dtype.itemsize)
            for start in range(0, total, cap):
                stop = min(total, start + cap)
                self.buckets.append(Bucket(dtype, start, stop, self.segments(dtype, start, stop)))

    def segments(self, dtype: np.dtype, start: int, stop: int) -> tuple[Segment, ...]:
        """The tensor pieces that make up flat elements ``[start, stop)`` of ``dtype``."""
        out = []
        for seg in self.tensors.get(dtype, ()):
            lo, hi = max(start, seg.at), min(stop, seg.at + seg.hi)
            if lo < hi:
                out.append(Segment(seg.index, lo - seg.at, hi - seg.at, lo))
        return tuple(out)

    def shard(self, dtype: np.dtype, rank: int) -> tuple[int, int]:
        """Rank ``rank``'s flat range ``[start, stop)`` of ``dtype``."""
        bounds = self.bounds[dtype]
        return bounds[rank], bounds[rank + 1]

    def counts(self, bucket: Bucket) -> np.ndarray:
        """Each rank's number of elements of ``bucket`` (its shard's overlap)."""
        bounds = np.clip(self.bounds[bucket.dtype], bucket.start, bucket.stop)
        return np.diff(bounds).astype(np.int64)

    def pieces(self, rank: int) -> list[tuple[np.dtype, Segment]]:
        """The tensor pieces of rank ``rank``'s shards, in flat order per dtype."""
        return [(d, seg) for d in self.totals for seg in self.segments(d, *self.shard(d, rank))]


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


class BucketComm:
    """The three bucket collectives over ``comm`` for one :class:`FlatLayout`."""

    def __init__(self, comm: Any, layout: FlatLayout) -> None:
        self.comm, self.layout = comm, layout
        self.rank = comm.Get_rank()
        sizes: dict[np.dtype, int] = {}
        for b in layout.buckets:
            if len(b.segments) > 1:
                sizes[b.dtype] = max(sizes.get(b.dtype, 0), b.stop - b.start)
        self.scratch = {d: np.empty(n, dtype=d) for d, n in sizes.items()}

    # ---- gradients ---------------------------------------------------------
    def allreduce(self, grads: Sequence[np.ndarray | None]) -> None:
        """Sum every gradient over the ranks, in place (None entries are skipped)."""
        mpi = _mpi()
        for b in self.layout.buckets:
            if len(b.segments) == 1:
                s = b.segments[0]
                if grads[s.index] is not None:
                    self.comm.Allreduce(mpi.IN_PLACE, _flat(grads[s.index])[s.lo:s.hi], mpi.SUM)
                continue
            buf = self._pack(b, grads)
            self.comm.Allreduce(mpi.IN_PLACE, buf, mpi.SUM)
            self._unpack(b, buf, grads)

    def reduce_scatter(self, grads: Sequence[np.ndarray | None],
                       shards: dict[np.dtype, np.ndarray]) -> None:
        """Sum the gradients over the ranks into this rank's ``shards`` (one flat
        array per dtype, of its shard's length)."""
        mpi = _mpi()
        for b in self.layout.buckets:
            counts = self.layout.counts(b)
            if len(b.segments) == 1 and grads[b.segments[0].index] is not None:
                s = b.segments[0]
                send = _flat(grads[s.index])[s.lo:s.hi]
            else:
                send = self._pack(b, grads)
            begin = max(b.start, self.layout.shard(b.dtype, self.rank)[0])
            offset = begin - self.layout.shard(b.dtype, self.rank)[0]
            recv = shards[b.dtype][offset:offset + counts[self.rank]]
            kind = _mpi_type(b.dtype)
            self.comm.Reduce_scatter([send, kind], [recv, kind], counts, mpi.SUM)

    # ---- parameters --------------------------------------------------------
    def allgather(self, arrays: Sequence[np.ndarray]) -> None:
        """Every rank's shard of ``arrays`` (updated in place by its optimizer) to
        every rank."""
        mpi = _mpi()
        for b in self.layout.buckets:
            counts = self.layout.counts(b)
            displs = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
            if len(b.segments) == 1:
                s = b.segments[0]
                target = _flat(arrays[s.index])[s.lo:s.hi]
                self.comm.Allgatherv(mpi.IN_PLACE, [target, counts, displs,
                                                    _mpi_type(b.dtype)])
                continue
            buf = self.scratch[b.dtype][:b.stop - b.start]
            start, stop = self.layout.shard(b.dtype, self.rank)
            for s in self.layout.segments(b.dtype, max(b.start, start), min(b.stop, stop)):
                buf[s.at - b.start:s.at - b.start + s.hi - s.lo] = _flat(arrays[s.index])[s.lo:s.hi]
            self.comm.Allgatherv(mpi.IN_PLACE, [buf, counts, displs, _mpi_type(b.dtype)])
            self._unpack(b, buf, arrays)

    # ---- packing -----------------------------------------------------------
    def _pack(self, b: Bucket, arrays: Sequence[np.ndarray | None]) -> np.ndarray:
        buf = self.scratch[b.dtype][:b.stop - b.start] if b.dtype in self.scratch else \
            np.empty(b.stop - b.start, b.dtype)
        parts = [np.zeros(s.hi - s.lo, b.dtype) if arrays[s.index] is None
                 else _flat(arrays[s.index])[s.lo:s.hi] for s in b.segments]
        np.concatenate(parts, out=buf)
        return buf

    def _unpack(self, b: Bucket, buf: np.ndarray, arrays: Sequence[np.ndarray | None]) -> None:
        for s in b.segments:
            if arrays[s.index] is not None:
                np.copyto(_flat(arrays[s.index])[s.lo:s.hi],
                          buf[s.at - b.start:s.at - b.start + s.hi - s.lo])


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
