"""Data-parallel training over MPI: ``DistributedTrainingLoop``.

Install the ``distributed`` extra (``mpi4py`` and the ``mpich`` wheel, which
brings ``mpiexec``) and launch the same script on every rank::

    mpiexec -n 4 python train.py
    mpiexec -n 4 python -m odyssey_training.distributed train.py   # MPI first: any
                                                                   # failure names its rank

See :class:`DistributedTrainingLoop` and docs/distributed.md.  Under a launcher
of several processes, importing this package starts MPI and makes an uncaught
exception on any rank end them all (printed with the rank); elsewhere MPI starts
when a loop is made (``MPI`` is ``mpi4py.MPI``, imported on first use).
"""

from typing import Any

from .mpi import import_mpi, install_excepthook, launched_rank

if (launched_rank()[1] or 1) > 1:
    install_excepthook(import_mpi().COMM_WORLD)

from .loop import DistributedTrainingLoop  # noqa: E402
from .zero import ZeroOptimizer  # noqa: E402

__all__ = ["DistributedTrainingLoop", "ZeroOptimizer", "MPI"]


def __getattr__(name: str) -> Any:
    if name == "MPI":
        return import_mpi()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
