"""Callbacks under MPI: every rank runs every callback, with the same logs, and
rank 0 can gather the run's state from a hook.

Each rank runs the same callbacks (checked at the start of ``fit``), and only
``loop.is_global_zero`` writes files.  What makes that safe:

* **Same logs.** A training batch's logs hold the *global* batch: ``size`` summed
  and ``loss`` averaged over the ranks (one small ``Allreduce``), and the epoch
  logs come from merged states, so callbacks decide alike everywhere.
* **Same stop.** After each hook, ``loop.stop_training`` is True on every rank if
  it is on any (a ``Timer`` may fire on one rank first).
* **State on demand.** A checkpoint needs state spread over the ranks (ZeRO
  shards, the running metrics of each rank, gradients accumulated so far).  While
  rank 0 runs a hook, :meth:`HookService.collective` lets it ask the other ranks,
  which wait after their own hook call, to take part in a named collective that
  gathers it; they leave when rank 0 says it is done.  The hook's single
  ``Allreduce`` of ``[command, stop]`` is both the "done" and the stop vote, so
  a hook that saves nothing costs one small ``Allreduce``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..callbacks.base import HOOKS, CallbackList

__all__ = ["HookService", "CollectiveCallbacks", "callback_signature"]

_DONE = -1


class HookService:
    """Named collectives that rank 0 may start while it runs a hook."""

    def __init__(self, comm: Any) -> None:
        self.comm = comm
        self.rank = comm.Get_rank()
        self.names: list[str] = []
        self.functions: dict[str, Callable[[], Any]] = {}
        self.active = False           # rank 0 is inside a hook session
        self.in_fit = False

    def register(self, name: str, function: Callable[[], Any]) -> None:
        """``function`` runs on every rank when rank 0 asks for ``name``."""
        if name not in self.functions:
            self.names.append(name)
        self.functions[name] = function

    def session(self, call: Callable[[], None], stop: Callable[[], bool]) -> bool:
        """Run ``call`` (this rank's hook) as one hook session; returns the agreed
        stop flag (True when any rank's ``stop()`` is True after its hook)."""
        if self.rank == 0:
            self.active = True
            try:
                call()
            finally:
                self.active = False
            return bool(self._vote(_DONE, stop())[1])
        call()
        while True:
            command, anyone = self._vote(-2, stop())
            if command == _DONE:
                return bool(anyone)
            self.functions[self.names[command]]()

    def collective(self, name: str) -> Any:
        """On rank 0 inside a hook: start collective ``name`` on every rank and return
        its result.  Elsewhere in ``fit`` it cannot be started (the other ranks are
        not waiting for it): a clear error instead of a hang."""
        if self.comm.Get_size() == 1:
            return self.functions[name]()
        if self.rank == 0 and self.active:
            self._vote(self.names.index(name), 0)
            return self.functions[name]()
        where = ("on rank 0 only" if self.rank != 0 else
                 "from a callback with writes_checkpoints = True")
        raise RuntimeError(f"the {name} state is spread over the ranks during fit; rank 0 "
                           f"gathers it {where} (ModelCheckpoint, BackupAndRestore), where the "
                           "other ranks wait to take part")

    def _vote(self, command: int, stop: bool) -> tuple[int, int]:
        from mpi4py import MPI
        vote = np.array([command, int(bool(stop))], np.int64)
        self.comm.Allreduce(MPI.IN_PLACE, vote, MPI.MAX)
        return int(vote[0]), int(vote[1])


class CollectiveCallbacks(CallbackList):
    """A run-ordered :class:`CallbackList` whose hooks run as :class:`HookService`
    sessions (only hooks some callback implements: the same on every rank)."""

    def __init__(self, inner: CallbackList, loop: Any, service: HookService) -> None:
        super().__init__()
        self.inner, self.loop, self.service = inner, loop, service
        self._calls = {hook: inner._calls[hook] for hook in HOOKS}

    def _run(self, hook: str, *args: Any) -> None:
        if not self._calls[hook]:
            return
        loop = self.loop
        method = getattr(self.inner, hook)
        loop.stop_training = self.service.session(lambda: method(*args),
                                                  lambda: loop.stop_training)

    def on_train_begin(self, logs=None):
        self._run("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._run("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._run("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._run("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._run("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        if self._calls["on_train_batch_end"] and logs is not None:
            from mpi4py import MPI
            sums = np.array([logs["loss"] * logs["size"], logs["size"]], np.float64)
            self.service.comm.Allreduce(MPI.IN_PLACE, sums, MPI.SUM)
            logs = {**logs, "size": int(sums[1]), "loss": float(sums[0] / sums[1])}
        self._run("on_train_batch_end", batch, logs)

    def on_validation_begin(self, logs=None):
        self._run("on_validation_begin", logs)

    def on_validation_batch_begin(self, batch, logs=None):
        self._run("on_validation_batch_begin", batch, logs)

    def on_validation_batch_end(self, batch, logs=None):
        self._run("on_validation_batch_end", batch, logs)

    def on_validation_end(self, logs=None):
        self._run("on_validation_end", logs)


def callback_signature(callbacks: CallbackList) -> list[list[Any]]:
    """What must match across ranks: each callback's class and the hooks it runs."""
    out = []
    for cb in callbacks:
        if isinstance(cb, CallbackList):
            out.append(["CallbackList", callback_signature(cb)])
        else:
            calls = CallbackList([cb])._calls
            hooks = [h for h in HOOKS if calls[h]]
            out.append([type(cb).__qualname__, bool(cb.writes_checkpoints), hooks])
    return out
