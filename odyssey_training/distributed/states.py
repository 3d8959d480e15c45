"""What the ranks must agree on, and the states they merge.

* :func:`check_same_parameters`, :func:`check_same_callbacks`, :func:`check_data`:
  collective checks at the start, each a clear error (the same on every rank)
  instead of a hang or a silent difference later.
* :func:`merge_states`: the running loss (a weighted sum and its count) and the
  metric states of every rank, merged in rank order (sums add; ``Metric.merge``),
  so every rank computes the same epoch logs, equal to one process's over the
  whole data.
* :func:`gather_running_state`: the same merge, and the sum of the gradients
  accumulated so far, on rank 0 only, without changing any rank's own state
  (what a checkpoint taken mid-epoch or mid-accumulation holds).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..callbacks.base import CallbackList
from ..loops.base import BatchMean
from ..metrics import MetricCollection
from ..parameter import Parameter
from .buckets import ready_grads
from .hooks import callback_signature
from .transport import allgather_trees, gather_trees

__all__ = ["check_same_parameters", "check_same_callbacks", "check_data", "merge_states",
           "gather_running_state"]


def check_same_parameters(comm: Any, params: Sequence[Parameter]) -> None:
    """ValueError (on every rank) when the ranks' models differ in their parameters'
    number, names, shapes or dtypes."""
    mine = [[p.name, list(p.data.shape), p.data.dtype.str] for p in params]
    everyone = allgather_trees(comm, mine)
    first = everyone[0]
    for rank, theirs in enumerate(everyone):
        if theirs == first:
            continue
        if len(theirs) != len(first):
            detail = f"rank {rank} has {len(theirs)} parameters, rank 0 has {len(first)}"
        else:
            i = next(i for i, (a, b) in enumerate(zip(theirs, first)) if a != b)
            same_name = theirs[i][0] == first[i][0]
            label = f"parameter {i}" + (f" {first[i][0]!r}" if same_name and first[i][0] else "")
            detail = (f"{label} is {_describe(theirs[i], not same_name)} on rank {rank} but "
                      f"{_describe(first[i], not same_name)} on rank 0")
        raise ValueError(f"the model differs across ranks: {detail}; every rank must build "
                         "the same model (its values are then broadcast from rank 0)")


def check_same_callbacks(comm: Any, callbacks: CallbackList) -> None:
    """ValueError when the ranks were given different callbacks: every rank runs every
    callback (they write files on rank 0 only by themselves), and a hook runs as one
    collective session, so the lists must match."""
    everyone = allgather_trees(comm, callback_signature(callbacks))
    for rank, theirs in enumerate(everyone):
        if theirs != everyone[0]:
            raise ValueError(f"rank {rank} has the callbacks {_names(theirs)}, rank 0 has "
                             f"{_names(everyone[0])}; give every rank the same callbacks "
                             "(file-writing ones write only where loop.is_global_zero)")


def check_data(comm: Any, data: Any, what: str) -> None:
    """The same number of batches on every rank; an ``ArrayLoader`` made for this rank
    of this world, whose every global batch gives every rank a sample."""
    from ..data import ArrayLoader
    rank, size = comm.Get_rank(), comm.Get_size()
    if isinstance(data, ArrayLoader):
        if (data.rank, data.world_size) != (rank, size):
            raise ValueError(f"{what} is an ArrayLoader for rank {data.rank} of "
                             f"{data.world_size}, but this is rank {rank} of {size}: pass "
                             f"rank=loop.rank, world_size=loop.world_size (each rank then "
                             f"takes its slice of every global batch)")
        rest = data.num_samples % data.global_batch_size
        if rest and not data.drop_last and rest < size:
            raise ValueError(f"{what}: the last global batch has {rest} samples, fewer than "
                             f"the {size} ranks, so a rank would get none; use "
                             "drop_last=True or another batch size")
    try:
        count = len(data)
    except TypeError:
        count = -1
    counts = np.zeros(size, np.int64)
    comm.Allgather(np.array([count], np.int64), counts)
    if len(set(counts.tolist())) > 1:
        shown = ", ".join(f"rank {r}: {'unknown' if c < 0 else c}" for r, c in enumerate(counts))
        raise ValueError(f"{what} has different numbers of batches on the ranks ({shown}); "
                         "each rank must take its slice of the same global batches "
                         "(ArrayLoader(..., rank=r, world_size=N) does)")


def _merged(trees: list[Any], metrics: MetricCollection) -> tuple[dict[str, Any],
                                                                    MetricCollection]:
    """The loss state and the metrics of every tree, merged in rank order."""
    from ..loops.base import fresh_copy
    loss = {"total": float(sum(float(t["loss"]["total"]) for t in trees)),
            "count": int(sum(int(t["loss"]["count"]) for t in trees))}
    union = fresh_copy(metrics)
    for tree in trees:
        other = fresh_copy(metrics)
        other.load_state_dict(tree["metrics"])
        union.merge(other)
    return loss, union


def merge_states(comm: Any, loss: BatchMean, metrics: MetricCollection) -> None:
    """Replace ``loss`` and ``metrics`` on every rank by the merge of every rank's
    (collective; the same floating-point operations in the same order everywhere,
    so every rank holds the same values)."""
    trees = allgather_trees(comm, {"loss": loss.state_dict(), "metrics": metrics.state_dict()})
    total, union = _merged(trees, metrics)
    loss.load_state_dict(total)
    metrics.load_state_dict(union.state_dict())


def gather_running_state(comm: Any, params: Sequence[Parameter], loss: BatchMean,
                         metrics: MetricCollection, grads: bool,
                         epoch: bool) -> dict[str, Any] | None:
    """On rank 0: ``{"grads": the sum over the ranks of each accumulated gradient
    (None where no rank has one) or None, "epoch_state": the merged running loss and
    metrics or None}``, as a one-process loop state holds them; None on the other
    ranks.  Nothing is changed (collective)."""
    root = comm.Get_rank() == 0
    out: dict[str, Any] = {"grads": None, "epoch_state": None}
    if grads:
        from mpi4py import MPI
        arrays = [p.data for p in params]
        summed = []
        for g in ready_grads(comm, arrays, [p.grad for p in params]):
            total = None if g is None or not root else np.empty_like(g)
            if g is not None:
                comm.Reduce(g, total, MPI.SUM, root=0)
            summed.append(total)
        out["grads"] = summed
    if epoch:
        trees = gather_trees(comm, {"loss": loss.state_dict(), "metrics": metrics.state_dict()})
        if root:
            total, union = _merged(trees, metrics)
            out["epoch_state"] = {"loss": total, "metrics": union.state_dict()}
    return out if root else None


def _describe(entry: list[Any], named: bool) -> str:
    name, shape, dtype = entry
    return (f"{name!r} " if named else "") + f"{tuple(shape)} {np.dtype(dtype).name}"


def _names(signature: list[Any]) -> str:
    return "[" + ", ".join(str(item[0]) for item in signature) + "]"
