"""``DistributedTrainingLoop``: data-parallel training over MPI ranks."""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from ..callbacks.base import Callback, CallbackList
from ..callbacks.history import History
from ..loops.base import BatchMean
from ..loops.basic import BasicTrainingLoop
from ..metrics import MetricCollection
from ..optimizers import Optimizer
from .buckets import BucketComm, FlatLayout, ready_grads
from .hooks import CollectiveCallbacks, HookService
from .mpi import abort, import_mpi, install_excepthook
from .states import (check_data, check_same_callbacks, check_same_parameters,
                     gather_running_state, merge_states)
from .transport import bcast_tree
from .zero import ZeroOptimizer

__all__ = ["DistributedTrainingLoop"]


class DistributedTrainingLoop(BasicTrainingLoop):
    """:class:`~odyssey_training.loops.BasicTrainingLoop` on every rank of an MPI job
    (``mpiexec -n N python train.py``), training one model on N times the data.

    Every rank builds the same model, optimizer, loop and callbacks, and passes
    ``ArrayLoader(x, y, batch_size=B, ..., rank=loop.rank, world_size=loop.world_size)``:
    at each step the ranks' batches together are the batch of N*B samples one
    process with ``batch_size=N*B`` draws, and the run is that process's run (to
    float rounding).

    * ``fit`` starts by broadcasting the parameters (and, without ZeRO, the
      optimizer state) from rank 0, so every rank starts alike.
    * Each rank's loss gradient is weighed by its share of the global batch, so the
      gradients *summed* over the ranks are the global batch's mean; they are summed
      through flat per-dtype buckets of ``bucket_mb`` MB, one ``Allreduce`` per
      bucket, only on the batches that step (``grad_accum_steps`` micro-batches
      before them do not communicate).  Every rank then takes the same step.
    * ``zero=True`` (ZeRO-1): each rank keeps optimizer state for its 1/N shard of
      the flat parameters only (``Reduce_scatter`` of the gradients, the shard
      stepped by the same kernels, ``Allgatherv`` of the parameters); see
      :mod:`.zero`.  The optimizer must be an odyssey optimizer.
    * Epoch and validation logs come from the metric states merged over the ranks
      (counts add); batch logs hold the global batch's ``size`` and mean ``loss``.
    * Only rank 0 (``loop.is_global_zero``) writes checkpoints, logs and progress:
      the callbacks honour it.  A checkpoint holds the whole run (full optimizer
      state, the merged running metrics, the summed accumulated gradients, the
      loader's position in global batches) and resumes on any number of ranks
      with the same global batch (``B' = N*B/M`` on M ranks) or in one process.
    * An exception on any rank ends every rank (printed with its rank, non-zero exit).

    Arguments are :class:`BasicTrainingLoop`'s, plus ``bucket_mb`` (bucket size in
    MB), ``zero`` and ``comm`` (an mpi4py communicator; default ``COMM_WORLD``).
    """

    def __init__(self, model: Any, optimizer: Any, loss: Any = None, scheduler: Any = None,
                 metrics: Any = None, callbacks: Iterable[Callback] | None = None, *,
                 grad_accum_steps: int = 1, clip_grad_norm: float | None = None,
                 clip_grad_value: float | None = None, scheduler_interval: str = "epoch",
                 scheduler_monitor: str = "val_loss", seed: int | None = None,
                 bucket_mb: float = 25.0, zero: bool = False, comm: Any = None) -> None:
        mpi = import_mpi()
        self.comm = mpi.COMM_WORLD if comm is None else comm
        self.rank, self.world_size = self.comm.Get_rank(), self.comm.Get_size()
        install_excepthook(self.comm)
        if isinstance(bucket_mb, bool) or not isinstance(bucket_mb, (int, float)) \
                or not math.isfinite(bucket_mb) or bucket_mb <= 0:
            raise ValueError(f"bucket_mb must be a number > 0 (MB per bucket), got {bucket_mb!r}")
        if not isinstance(zero, bool):
            raise TypeError(f"zero must be True or False, got {zero!r}")
        super().__init__(model, optimizer, loss, scheduler, metrics, callbacks,
                         grad_accum_steps=grad_accum_steps, clip_grad_norm=clip_grad_norm,
                         clip_grad_value=clip_grad_value, scheduler_interval=scheduler_interval,
                         scheduler_monitor=scheduler_monitor, seed=seed)
        self.is_global_zero = self.rank == 0
        self.bucket_mb, self.zero = float(bucket_mb), zero
        self.bucket_bytes = max(1, int(self.bucket_mb * 2**20))
        self.service = HookService(self.comm)
        self.service.register("loop", self._gather_running_state)
        if zero:
            self.optimizer = ZeroOptimizer(optimizer, self.comm, self.bucket_bytes)
            self.optimizer.service = self.service
            self.service.register("optimizer", self.optimizer.gather_state)
        self._buckets: BucketComm | None = None
        check_same_parameters(self.comm, model.parameters())

    # ---- fit ----------------------------------------------------------------
    def fit(self, train_data: Iterable, val_data: Iterable | None = None, epochs: int = 10,
            max_steps: int | None = None, validate_every: int = 1,
            initial_epoch: int = 0) -> History:
        """:meth:`BasicTrainingLoop.fit` on every rank (collective).  An exception on
        this rank is printed with the rank and ends every rank (``MPI_Abort``)."""
        try:
            self._begin(train_data, val_data)
            history = super().fit(train_data, val_data, epochs=epochs, max_steps=max_steps,
                                  validate_every=validate_every, initial_epoch=initial_epoch)
            self._end()
            return history
        except BaseException as exc:
            if self.world_size > 1:
                abort(self.comm, exc)
            raise
        finally:
            self.service.in_fit = False

    def _begin(self, train_data: Iterable, val_data: Iterable | None) -> None:
        """Checks, then rank 0's parameters (and optimizer state) everywhere."""
        params = self.model.parameters()
        check_same_parameters(self.comm, params)
        check_same_callbacks(self.comm, self.callbacks)
        check_data(self.comm, train_data, "train_data")
        if val_data is not None:
            check_data(self.comm, val_data, "val_data")
        for p in params:
            self.comm.Bcast(p.data, root=0)
        if self.zero:
            self.optimizer.shard()
        elif isinstance(self.optimizer, Optimizer):
            state = self.optimizer.state_dict() if self.rank == 0 else None
            flag = np.array([bool(state and state["state"])], np.int8)
            self.comm.Bcast(flag, root=0)
            if flag[0]:
                state = bcast_tree(self.comm, state)
                if self.rank:
                    self.optimizer.load_state_dict(state)
        self.service.in_fit = True

    def _end(self) -> None:
        """Leave a state rank 0 can save alone: the gradients accumulated towards the
        next step summed on rank 0 (the others' set to None, which changes nothing
        for a later step: the ranks' gradients are summed) and, with ZeRO, the full
        optimizer state gathered into the user's optimizer on rank 0."""
        self.service.in_fit = False
        if self.micro_step and self.world_size > 1:
            params = self.model.parameters()
            running = gather_running_state(self.comm, params, self.loss_mean, self.metrics,
                                           grads=True, epoch=False)
            for p, g in zip(params, running["grads"] if running else [None] * len(params)):
                p.grad = g
        if self.zero:
            self.optimizer.unshard()

    # ---- the hooks BasicTrainingLoop calls --------------------------------------
    def _grad_scale(self, size: int, batch: int, last: int | None) -> float:
        """``size / (global batch size * grad_accum_steps)``: the global batch is
        ``N * size`` except at an epoch's last batch, whose ranks' sizes are gathered
        (one ``Allgather``: a short last batch is split unevenly)."""
        n, accum = self.world_size, self.grad_accum_steps
        if n > 1 and last is not None and batch == last - 1:
            sizes = np.zeros(n, np.int64)
            self.comm.Allgather(np.array([size], np.int64), sizes)
            return size / (int(sizes.sum()) * accum)
        return 1.0 / (n * accum)

    def _apply_gradients(self) -> None:
        if self.zero:
            self.optimizer.step(clip_value=self.clip_grad_value)
            self.optimizer.zero_grad()
            return
        if self.world_size > 1:
            params = self.model.parameters()
            arrays = [p.data for p in params]
            if self._buckets is None or self._buckets.layout.signature != [
                    (a.shape, a.dtype) for a in arrays]:
                self._buckets = BucketComm(self.comm, FlatLayout(arrays, self.bucket_bytes,
                                                                 self.world_size))
            grads = ready_grads(self.comm, arrays, [p.grad for p in params])
            for p, g in zip(params, self._buckets.allreduce(grads)):
                p.grad = g
        super()._apply_gradients()

    def _reduce_states(self, loss: BatchMean, metrics: MetricCollection) -> None:
        if self.world_size > 1:
            merge_states(self.comm, loss, metrics)

    def _run_order(self, history: History | None, train_begin: bool = False) -> CallbackList:
        cbs = super()._run_order(history, train_begin)
        return cbs if self.world_size == 1 else CollectiveCallbacks(cbs, self, self.service)

    def evaluate(self, data: Iterable) -> dict[str, float]:
        """``{"loss": ..., metric: ...}`` over every rank's ``data`` (collective: each
        rank evaluates its shard, the loss and metric states are merged), the same
        on every rank; call it on every rank."""
        return super().evaluate(data)

    # ---- state ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The loop's state (see :class:`~odyssey_training.loops.state.LoopState`) as one
        process would hold it.  During ``fit`` rank 0 gathers the running metrics and
        the accumulated gradients from the other ranks, which works from a callback
        with ``writes_checkpoints`` (the other ranks wait there); elsewhere in
        ``fit`` it is an error.  Outside ``fit`` rank 0's state is complete.  Other
        ranks return their own partial state."""
        state = super().state_dict()
        if self.world_size == 1 or self.rank != 0 or not self.service.in_fit:
            return state
        running = self.service.collective("loop")
        if state["grads"] is not None:
            state["grads"] = running["grads"]
        if state["epoch_state"] is not None:
            state["epoch_state"] = running["epoch_state"]
        return state

    def _gather_running_state(self) -> dict[str, Any] | None:
        return gather_running_state(
            self.comm, self.model.parameters(), self.loss_mean, self.metrics,
            grads=self.micro_step > 0,
            epoch=not self.epoch_complete and self.batches_done > 0)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Every rank loads the same state; rank 0 keeps the accumulated gradients and
        running metrics it holds, the other ranks start theirs empty (they are summed
        over the ranks at the step and at the epoch's end)."""
        super().load_state_dict(state)
        if self.rank:
            for p in self.model.parameters():
                p.grad = None
            self.loss_mean = BatchMean()
            self.metrics.reset()
