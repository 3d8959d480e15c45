"""State trees between ranks without pickle.

A tree (dicts, lists, scalars and ndarrays: what ``state_dict()`` methods return)
travels as one byte buffer: an 8-byte header length, a JSON header (the
checkpoint's exact tree encoding, :func:`~odyssey_training.checkpoint.flatten`,
plus each array's dtype, shape and offset) and the arrays' raw bytes.  The
collectives move those buffers with MPI's buffer calls (``Bcast``, ``Gatherv``,
``Allgatherv``, ``Scatterv``): nothing a rank receives is ever unpickled or
executed, as nothing read from a checkpoint is.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..checkpoint.tree import flatten, unflatten

__all__ = ["pack", "unpack", "bcast_tree", "gather_trees", "allgather_trees", "scatter_trees"]

_ALIGN = 64


def pack(tree: Any) -> np.ndarray:
    """``tree`` as one uint8 buffer (see the module docstring)."""
    document, arrays = flatten(tree, "t")
    specs, offset = [], 0
    for key, arr in arrays.items():
        specs.append([key, arr.dtype.str, list(arr.shape), offset])
        offset += -(-arr.nbytes // _ALIGN) * _ALIGN
    header = json.dumps({"tree": document, "arrays": specs}, allow_nan=False,
                        separators=(",", ":")).encode()
    start = -(-(8 + len(header)) // _ALIGN) * _ALIGN
    out = np.zeros(start + offset, dtype=np.uint8)
    out[:8] = np.frombuffer(np.array([len(header)], "<u8").tobytes(), np.uint8)
    out[8:8 + len(header)] = np.frombuffer(header, np.uint8)
    for (key, _, _, at), arr in zip(specs, arrays.values()):
        out[start + at:start + at + arr.nbytes] = arr.reshape(-1).view(np.uint8)
    return out


def unpack(buf: np.ndarray, copy: bool = True) -> Any:
    """The tree :func:`pack` encoded: arrays are copies, independent of ``buf``, or
    (``copy=False``) read-only views of it."""
    data = np.ascontiguousarray(buf, dtype=np.uint8)
    size = int(data[:8].view("<u8")[0])
    header = json.loads(data[8:8 + size].tobytes())
    start = -(-(8 + size) // _ALIGN) * _ALIGN
    arrays = {}
    for key, dtype, shape, at in header["arrays"]:
        dt = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        view = data[start + at:start + at + count * dt.itemsize].view(dt).reshape(shape)
        if copy:
            view = view.copy()
        else:
            view.flags.writeable = False
        arrays[key] = view
    return unflatten(header["tree"], arrays)


def bcast_tree(comm: Any, tree: Any, root: int = 0) -> Any:
    """Root's ``tree`` on every rank (the others' argument is ignored)."""
    buf = pack(tree) if comm.Get_rank() == root else None
    size = np.array([0 if buf is None else buf.size], np.int64)
    comm.Bcast(size, root=root)
    if buf is None:
        buf = np.empty(int(size[0]), np.uint8)
    comm.Bcast(buf, root=root)
    return tree if comm.Get_rank() == root else unpack(buf)


def gather_trees(comm: Any, tree: Any, root: int = 0, copy: bool = True) -> list[Any] | None:
    """Every rank's ``tree``, in rank order, on ``root``; None elsewhere (``copy=False``:
    its arrays are read-only views of the one receive buffer)."""
    buf = pack(tree)
    sizes = np.zeros(comm.Get_size(), np.int64) if comm.Get_rank() == root else None
    comm.Gather(np.array([buf.size], np.int64), sizes, root=root)
    if comm.Get_rank() != root:
        comm.Gatherv(buf, None, root=root)
        return None
    out = np.empty(int(sizes.sum()), np.uint8)
    comm.Gatherv(buf, _vector(out, sizes), root=root)
    return _split(out, sizes, copy)


def allgather_trees(comm: Any, tree: Any) -> list[Any]:
    """Every rank's ``tree``, in rank order, on every rank."""
    buf = pack(tree)
    sizes = np.zeros(comm.Get_size(), np.int64)
    comm.Allgather(np.array([buf.size], np.int64), sizes)
    out = np.empty(int(sizes.sum()), np.uint8)
    comm.Allgatherv(buf, _vector(out, sizes))
    return _split(out, sizes)


def scatter_trees(comm: Any, trees: list[Any] | None, root: int = 0) -> Any:
    """Rank r receives ``trees[r]`` (given on ``root`` only)."""
    if comm.Get_rank() == root:
        if trees is None or len(trees) != comm.Get_size():
            raise ValueError(f"scatter_trees needs one tree per rank ({comm.Get_size()})")
        bufs = [pack(t) for t in trees]
        sizes = np.array([b.size for b in bufs], np.int64)
        send = _vector(np.concatenate(bufs), sizes)
    else:
        sizes, send = None, None
    mine = np.zeros(1, np.int64)
    comm.Scatter(sizes, mine, root=root)
    buf = np.empty(int(mine[0]), np.uint8)
    comm.Scatterv(send, buf, root=root)
    return unpack(buf)


def _vector(buf: np.ndarray, sizes: np.ndarray) -> list[Any]:
    """An mpi4py vector message: the buffer, (counts, displacements), bytes."""
    from mpi4py import MPI
    displs = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    return [buf, (sizes, displs), MPI.BYTE]


def _split(out: np.ndarray, sizes: np.ndarray, copy: bool = True) -> list[Any]:
    ends = np.cumsum(sizes)
    return [unpack(out[end - size:end], copy) for size, end in zip(sizes, ends)]
