"""``odyssey_training.loops`` does not start MPI; ``DistributedTrainingLoop`` is the
same class from both places; without a launcher, importing the package starts nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .launch import ROOT

pytestmark = pytest.mark.nokernel


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_importing_the_loops_never_imports_mpi4py():
    result = python("import sys, odyssey_training.loops as loops\n"
                    "from odyssey_training.loops import *\n"
                    "assert 'mpi4py' not in sys.modules, 'mpi4py imported'\n"
                    "import odyssey_training.distributed\n"
                    "assert 'mpi4py.MPI' not in sys.modules, 'MPI started without a launcher'\n")
    assert result.returncode == 0, result.stderr


def test_the_loop_is_one_class_reached_two_ways():
    pytest.importorskip("mpi4py")
    result = python("from odyssey_training.loops import DistributedTrainingLoop as a\n"
                    "from odyssey_training.distributed import DistributedTrainingLoop as b\n"
                    "assert a is b\n")
    assert result.returncode == 0, result.stderr
