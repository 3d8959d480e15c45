"""ZeRO stage 1: every rank keeps optimizer state for its shard of the parameters only.

The optimizer's parameters, per dtype, form one flat space cut into buckets, and
each bucket is split evenly over the ranks (:class:`~.buckets.FlatLayout`): a
rank's shard is its slice of every bucket.  Where a slice meets a tensor, a *piece* is a :class:`Parameter` whose ``data`` is a view of that part
of the model's own array and whose ``grad`` is a view of the rank's reduced
gradient shard.  The rank's *shard optimizer* is the user's optimizer class with
the same param groups over those pieces, so each step runs the same generated
kernels on 1/N of the elements.  A step::

    Reduce_scatter(SUM) per bucket        -> this rank's gradient shard (the mean:
                                             the loss gradient carries 1/N)
    clip_grad_value_ on the shard; per-group global norm = sqrt(Allreduce of the
    shards' sums of squares) -> the clip scale, applied to the shard
    shard optimizer step                  -> the model's arrays, in place, for the shard
    Allgatherv per bucket                 -> every rank has every updated parameter

Element-wise update rules make this the same step as one process's (to float
rounding: the clip scale multiplies the gradients instead of being fused).
Outside ``fit`` the user's optimizer holds the whole state (on rank 0, which
writes checkpoints); ``shard`` scatters it at the start of ``fit`` and
``unshard`` gathers it back at the end, so a checkpoint always holds the full
state and resumes on any number of ranks.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from ..clip import GradNormPlan
from ..elementwise import clip_grad_value_
from ..optimizers import Optimizer
from ..parameter import Parameter
from .buckets import BucketComm, FlatLayout, ready_grads
from .transport import gather_trees, scatter_trees

__all__ = ["ZeroOptimizer"]


class ZeroOptimizer:
    """What ``DistributedTrainingLoop(zero=True)`` uses as ``loop.optimizer``: the
    user's optimizer (``inner``), sharded over the ranks during ``fit``.

    ``param_groups`` are the user's groups (schedulers and callbacks write them;
    each step copies them to the shard optimizer); ``state_dict()`` is the full
    torch-layout state (during ``fit`` rank 0 gathers it from the shards: a
    collective, see ``DistributedTrainingLoop``); ``load_state_dict`` takes a full
    state (each rank keeps its slices).
    """

    def __init__(self, inner: Any, comm: Any, bucket_bytes: int) -> None:
        if not isinstance(inner, Optimizer):
            raise TypeError(f"zero=True shards an odyssey optimizer's state (its per-element "
                            f"kernels step any slice of a tensor); got {type(inner).__name__}")
        self.inner, self.comm, self.bucket_bytes = inner, comm, bucket_bytes
        self.rank, self.world_size = comm.Get_rank(), comm.Get_size()
        self.shard_optimizer: Optimizer | None = None
        self.last_grad_norm: float | None = None
        self.skipped_steps = 0
        #: set by the loop: runs a collective on every rank (rank 0 asks for it from a
        #: callback that writes a checkpoint) and returns its result on rank 0
        self.service: Any = None

    # ---- what loops, schedulers and callbacks read -------------------------
    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.inner.param_groups

    @property
    def defaults(self) -> dict[str, Any]:
        return self.inner.defaults

    @property
    def params(self) -> list[Parameter]:
        return [p for g in self.inner.param_groups for p in g["params"]]

    def get_lr(self) -> float:
        return self.inner.get_lr()

    def set_lr(self, lr: float) -> None:
        self.inner.set_lr(lr)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner.zero_grad(set_to_none)

    # ---- sharding ----------------------------------------------------------
    def shard(self) -> None:
        """Build this rank's pieces and shard optimizer, give it its slices of rank
        0's state (``Scatterv``), and empty the user's optimizer (collective)."""
        params = self.params
        self.arrays = [p.data for p in params]
        self.layout = FlatLayout(self.arrays, self.bucket_bytes, self.world_size)
        self.buckets = BucketComm(self.comm, self.layout)
        self.grad_shards = {d: np.zeros(self.layout.shard_size(d, self.rank), d)
                            for d in self.layout.totals}
        group_of = {id(p): i for i, g in enumerate(self.inner.param_groups) for p in g["params"]}
        self.pieces: list[tuple[int, int, int, Parameter]] = []   # (tensor, lo, hi, piece)
        members: list[list[Parameter]] = [[] for _ in self.inner.param_groups]
        for dtype, seg, at in self.layout.pieces(self.rank):
            p = params[seg.index]
            piece = Parameter(self.arrays[seg.index].reshape(-1)[seg.lo:seg.hi],
                              self.grad_shards[dtype][at:at + seg.hi - seg.lo],
                              name=f"{p.name or seg.index}[{seg.lo}:{seg.hi}]")
            self.pieces.append((seg.index, seg.lo, seg.hi, piece))
            members[group_of[id(p)]].append(piece)
        self.piece_grads = [piece.grad for *_, piece in self.pieces]
        full = self.inner.state_dict() if self.rank == 0 else None
        groups = [{**_hypers(g), "params": m} for g, m in zip(self.inner.param_groups, members)]
        self.shard_optimizer = type(self.inner)(groups, num_threads=self.inner.num_threads,
                                                simd_width=self.inner.simd_width)
        slices = [self._slice(full, r) for r in range(self.world_size)] if full else None
        self.shard_optimizer.load_state_dict(scatter_trees(self.comm, slices))
        self.inner.load_state_dict({"state": {}, "param_groups": _groups_of(self.inner)})
        self._norms = [GradNormPlan() for _ in members]

    def unshard(self) -> None:
        """Gather the full state into the user's optimizer on rank 0 and drop the
        shards (collective)."""
        full = self.gather_state()
        if full is not None:
            self.inner.load_state_dict(full)
        self.shard_optimizer = None
        self.pieces, self.piece_grads, self.grad_shards = [], [], {}

    # ---- state -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The full state: the user's optimizer's outside ``fit``; during ``fit``, on
        rank 0 and from a callback that writes checkpoints, the shards gathered by
        every rank (see ``DistributedTrainingLoop``)."""
        if self.shard_optimizer is None:
            return self.inner.state_dict()
        if self.service is None:
            raise RuntimeError("the ZeRO optimizer's state is sharded during fit: gather it "
                               "with gather_state() on every rank")
        return self.service.collective("optimizer")

    def gather_state(self) -> dict[str, Any] | None:
        """The full torch-layout state on rank 0 (None on the others), assembled from
        every rank's shard state (collective)."""
        held = self.shard_optimizer.state   # keyed by piece, as ``pieces(rank)`` orders them
        mine = {k: {name: float(v) if name == "step" else v for name, v in held[piece].items()}
                for k, (*_, piece) in enumerate(self.pieces) if piece in held}
        shards = gather_trees(self.comm, mine, copy=False)
        del mine
        if shards is None:
            return None
        params = self.params
        state: dict[int, dict[str, Any]] = {}
        for rank, entries in enumerate(shards):
            for k, (_, seg, _) in enumerate(self.layout.pieces(rank)):
                entry = entries.get(k)
                if entry is None:
                    continue
                full = state.setdefault(seg.index, {"step": entry["step"]})
                for name, value in entry.items():
                    if name == "step":
                        continue
                    if name not in full:
                        full[name] = np.zeros(params[seg.index].data.shape, dtype=value.dtype)
                    full[name].reshape(-1)[seg.lo:seg.hi] = value
        return {"state": state, "param_groups": _groups_of(self.inner)}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a full state: into the user's optimizer outside ``fit``; during ``fit``
        each rank keeps its slices (every rank must load the same state)."""
        if self.shard_optimizer is None:
            self.inner.load_state_dict(state_dict)
            return
        self.inner.load_state_dict({"state": {}, "param_groups": state_dict["param_groups"]})
        self.shard_optimizer.load_state_dict(self._slice(state_dict, self.rank))

    def _slice(self, full: Mapping[str, Any], rank: int) -> dict[str, Any]:
        """Rank ``rank``'s shard-optimizer state from a full state."""
        saved = full.get("state", {})
        state, groups = {}, [[] for _ in self.inner.param_groups]
        group_of = {i: g for g, grp in enumerate(full["param_groups"]) for i in grp["params"]}
        for k, (_, seg, _) in enumerate(self.layout.pieces(rank)):
            groups[group_of[seg.index]].append(k)
            entry = saved.get(seg.index)
            if entry is not None:
                state[k] = {name: (value if name == "step" else
                                   np.asarray(value).reshape(-1)[seg.lo:seg.hi])
                            for name, value in entry.items()}
        param_groups = [{**_hypers(g), "params": ids}
                        for g, ids in zip(full["param_groups"], groups)]
        return {"state": state, "param_groups": param_groups}

    # ---- the step ----------------------------------------------------------
    def step(self, clip_value: float | None = None) -> None:
        """One ZeRO step from the accumulated ``Parameter.grad`` of every rank
        (collective; see the module docstring)."""
        if self.shard_optimizer is None:
            raise RuntimeError("ZeroOptimizer.step runs inside DistributedTrainingLoop.fit")
        params = self.params
        if any(p.data is not a for p, a in zip(params, self.arrays)):
            raise RuntimeError("a parameter's array was replaced during fit; ZeRO updates the "
                               "model's arrays in place (copy new values with np.copyto)")
        grads = ready_grads(self.comm, self.arrays, [p.grad for p in params])
        self.buckets.reduce_scatter(grads, self.grad_shards)
        for (index, _, _, piece), g in zip(self.pieces, self.piece_grads):
            piece.grad = None if grads[index] is None else g
        live = [piece for *_, piece in self.pieces if piece.grad is not None]
        if clip_value is not None and live:
            clip_grad_value_(live, clip_value)
        skip = self._clip_norms()
        shard_groups = self.shard_optimizer.param_groups
        for mine, theirs in zip(shard_groups, self.inner.param_groups):
            for key, value in theirs.items():
                if key not in ("params", "max_grad_norm"):
                    mine[key] = value
        saved = [[(p, p.grad) for p in g["params"]] for i, g in enumerate(shard_groups) if i in skip]
        for group in saved:
            for p, _ in group:
                p.grad = None
        self.shard_optimizer.step()
        for group in saved:
            for p, g in group:
                p.grad = g
        self.buckets.allgather(self.arrays)

    def _clip_norms(self) -> set[int]:
        """Clip each group with ``max_grad_norm`` to its global norm (the ranks' sums
        of squares, one ``Allreduce``); returns the groups to skip (a non-finite
        norm: parameters and state stay as they are, as in one process)."""
        clipped = [i for i, g in enumerate(self.inner.param_groups)
                   if g.get("max_grad_norm") is not None]
        if not clipped:
            return set()
        shard_groups = self.shard_optimizer.param_groups
        sums = np.zeros(len(clipped), np.float64)
        for k, i in enumerate(clipped):
            grads = [p.grad for p in shard_groups[i]["params"] if p.grad is not None]
            sums[k] = self._norms[i](grads, self.inner.num_threads) ** 2 if grads else 0.0
        from mpi4py import MPI
        self.comm.Allreduce(MPI.IN_PLACE, sums, MPI.SUM)
        skip = set()
        for k, i in enumerate(clipped):
            norm = math.sqrt(sums[k])
            self.last_grad_norm = norm
            if not math.isfinite(norm):
                self.skipped_steps += 1
                skip.add(i)
                continue
            coef = min(1.0, self.inner.param_groups[i]["max_grad_norm"] / (norm + 1e-6))
            if coef < 1.0:
                for p in shard_groups[i]["params"]:
                    if p.grad is not None:
                        p.grad *= p.grad.dtype.type(coef)
        return skip


def _hypers(group: Mapping[str, Any]) -> dict[str, Any]:
    """A group's settings for a shard optimizer group: everything but its params,
    and no norm clipping of its own (the global norm is applied before the step)."""
    return {**{k: v for k, v in group.items() if k != "params"}, "max_grad_norm": None}


def _groups_of(optimizer: Optimizer) -> list[dict[str, Any]]:
    """``param_groups`` as ``state_dict`` writes them (index lists), without copying state."""
    out, index = [], 0
    for group in optimizer.param_groups:
        n = len(group["params"])
        out.append({**{k: v for k, v in group.items() if k != "params"},
                    "params": list(range(index, index + n))})
        index += n
    return out
