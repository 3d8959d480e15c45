"""``python -m odyssey_training.distributed [-m module | script.py] [args...]``.

Starts MPI before anything else, then runs the script (or module) as
``__main__``.  Whatever then goes wrong on a rank -- an import that fails, a
kernel that does not compile, an exception, ``sys.exit`` with an error code --
is printed with that rank and host and ends every rank (``MPI_Abort``), instead
of leaving the others waiting in a collective.
"""

from __future__ import annotations

import runpy
import sys

from .mpi import abort, import_mpi, install_excepthook

USAGE = "usage: mpiexec -n N python -m odyssey_training.distributed (script.py | -m module) [args...]"


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or (argv[0] == "-m" and len(argv) < 2):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        raise SystemExit(0 if argv else 2)
    comm = import_mpi().COMM_WORLD
    install_excepthook(comm)
    module = argv[0] == "-m"
    target = argv[1] if module else argv[0]
    sys.argv = argv[1:] if module else argv
    try:
        if module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target, run_name="__main__")
    except SystemExit as stop:
        if stop.code not in (None, 0) and comm.Get_size() > 1:
            code = stop.code if isinstance(stop.code, int) else 1
            abort(comm, message=f"exited with {stop.code!r}", code=code)
        raise
    except BaseException as exc:
        if comm.Get_size() > 1:
            abort(comm, exc)
        raise


if __name__ == "__main__":
    main()
