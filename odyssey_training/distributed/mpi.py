"""MPI for the distributed loop: importing ``mpi4py``, naming the rank, and ending
every rank when one fails.

MPI gives a failed rank no way out on its own: the other ranks wait in their
next collective for ever, and ``mpiexec`` does not notice a Python process that
exits with an error after a clean ``MPI_Finalize`` (nor one that exits before
``MPI_Init``).  So:

* an exception that reaches the top of a rank (``sys.excepthook``, installed by
  :func:`install_excepthook`) or escapes ``DistributedTrainingLoop.fit`` is printed
  with the rank and host, then ``MPI_Abort`` ends the whole job (non-zero exit,
  within a second);
* a rank that cannot import ``mpi4py`` under ``mpiexec`` prints why and ends itself
  with a signal, which ``mpiexec`` does notice (the other ranks, waiting in
  ``MPI_Init``, are killed);
* ``python -m odyssey_training.distributed script.py`` starts MPI *before* the
  script imports anything, so a failed import or kernel compile in any rank is
  reported with its rank too.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import traceback
from types import ModuleType, TracebackType
from typing import Any, NoReturn

__all__ = ["import_mpi", "launched_rank", "report", "abort", "install_excepthook",
           "INSTALL_HINT"]

INSTALL_HINT = "pip install 'odyssey-training[distributed]' (mpi4py and the mpich wheel)"

# what mpiexec of MPICH (hydra), Open MPI, PMIx and Slurm tell each process
_RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS")


def launched_rank() -> tuple[int | None, int | None]:
    """(rank, size) as the launcher's environment gives them, before MPI starts;
    (None, None) outside a launcher."""
    def first(names: tuple[str, ...]) -> int | None:
        for name in names:
            value = os.environ.get(name, "")
            if value.isdigit():
                return int(value)
        return None
    return first(_RANK_VARS), first(_SIZE_VARS)


def import_mpi() -> ModuleType:
    """``mpi4py.MPI`` (which starts MPI).  When it cannot be imported: under an
    ``mpiexec`` of several processes, print the rank and the reason and end this
    process with SIGTERM (a plain error exit would leave the others waiting in
    ``MPI_Init``); otherwise an ImportError that says what to install."""
    try:
        from mpi4py import MPI
    except Exception as err:    # ImportError, or a broken MPI library (OSError, RuntimeError)
        rank, size = launched_rank()
        if size is not None and size > 1:
            sys.stderr.write(f"[rank {rank}/{size} on {socket.gethostname()}] cannot import "
                             f"mpi4py: {type(err).__name__}: {err}\n  {INSTALL_HINT}\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGTERM)
        raise ImportError(f"odyssey_training.distributed needs mpi4py and an MPI library: "
                          f"{INSTALL_HINT}") from err
    return MPI


def _prefix(comm: Any) -> str:
    return f"[rank {comm.Get_rank()}/{comm.Get_size()} on {socket.gethostname()}]"


def report(comm: Any, exc: BaseException | None = None, message: str | None = None) -> None:
    """Write ``[rank r/N on host]`` and the error (its traceback) or ``message`` to
    stderr, flushed, as one write (ranks share the terminal)."""
    if exc is not None:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    else:
        text = (message or "") + "\n"
    sys.stdout.flush()
    sys.stderr.write(f"{_prefix(comm)} {text}")
    sys.stderr.flush()


#: seconds between the report and MPI_Abort: mpiexec forwards a rank's output through
#: its proxy, and an abort right after the write can tear the proxy down first
FLUSH_SECONDS = 0.25


def abort(comm: Any, exc: BaseException | None = None, message: str | None = None,
          code: int = 1) -> NoReturn:
    """Report the error and end every rank of ``comm``'s job (``MPI_Abort``); never
    returns."""
    report(comm, exc, message)
    time.sleep(FLUSH_SECONDS)
    try:
        comm.Abort(code)
    finally:
        os._exit(code)      # MPI_Abort does not return; if it did, this process ends anyway


def install_excepthook(comm: Any) -> None:
    """Make an uncaught exception in this rank end every rank (after printing it
    with the rank).  Installed once per process; an earlier hook is replaced only
    while it is Python's default (a user's own hook is kept and called first)."""
    current = sys.excepthook
    if getattr(current, "_odyssey_abort", False) or comm.Get_size() < 2:
        return
    previous = current if current is not sys.__excepthook__ else None

    def hook(kind: type[BaseException], value: BaseException,
             tb: TracebackType | None) -> None:
        if previous is not None:
            previous(kind, value, tb)
        if value.__traceback__ is None:
            value = value.with_traceback(tb)
        abort(comm, value)

    hook._odyssey_abort = True  # type: ignore[attr-defined]
    sys.excepthook = hook
