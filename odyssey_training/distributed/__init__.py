"""Data-parallel training over MPI: ``DistributedTrainingLoop``.

Install the ``distributed`` extra (``mpi4py`` and the ``mpich`` wheel, which
brings ``mpiexec``) and launch the same script on every rank::

    mpiexec -n 4 python train.py
    mpiexec -n 4 python -m odyssey_training.distributed train.py   # MPI first: any
                                                                   # failure names its rank

See :class:`DistributedTrainingLoop` and docs/distributed.md.  Importing this
package starts MPI (``mpi4py.MPI``) and, under ``mpiexec`` with several ranks,
makes an uncaught exception on any rank end them all.
"""

from .mpi import import_mpi, install_excepthook

MPI = import_mpi()
install_excepthook(MPI.COMM_WORLD)

from .loop import DistributedTrainingLoop  # noqa: E402
from .zero import ZeroOptimizer  # noqa: E402

__all__ = ["DistributedTrainingLoop", "ZeroOptimizer", "MPI"]
