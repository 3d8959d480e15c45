"""Faults end the whole job quickly, non-zero, naming the rank and the reason:
an exception on one rank, models or callbacks that differ across ranks, an import
that fails on one rank, a kernel that cannot compile on one rank."""

from __future__ import annotations

import pytest

from .launch import mpiexec, run

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _needs_mpiexec():
    mpiexec()


def test_an_exception_on_one_rank_ends_every_rank_within_seconds():
    result, seconds = run(2, "raise", check=False, timeout=60)
    assert result.returncode != 0
    assert seconds < 30
    assert "[rank 1/2" in result.stderr
    assert "RuntimeError: injected failure on rank 1 at batch 3" in result.stderr


def test_parameters_that_differ_across_ranks_are_a_clear_error():
    result, _ = run(2, "mismatch", check=False, timeout=60)
    assert result.returncode != 0
    assert ("the model differs across ranks: parameter 0 'w1' is (4, 9) float32 on rank 1 "
            "but (4, 8) float32 on rank 0") in result.stderr


def test_callbacks_that_differ_across_ranks_are_a_clear_error():
    result, _ = run(2, "callbacks", check=False, timeout=60)
    assert result.returncode != 0
    assert "rank 1 has the callbacks [History], rank 0 has []" in result.stderr


def test_a_rank_that_cannot_import_says_which_and_why(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("import os\n"
                      "if os.environ.get('PMI_RANK') == '1':\n"
                      "    import a_module_only_rank_0_has\n"
                      "from mpi4py import MPI\n"
                      "MPI.COMM_WORLD.Barrier()\n")
    result, seconds = run(2, script, launcher=["-m", "odyssey_training.distributed"],
                          check=False, timeout=60)
    assert result.returncode != 0 and seconds < 30
    assert "[rank 1/2" in result.stderr
    assert "No module named 'a_module_only_rank_0_has'" in result.stderr


def test_a_rank_that_cannot_compile_says_which_and_why(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("import os, numpy as np\n"
                      "if os.environ.get('PMI_RANK') == '1':\n"
                      "    os.environ['ODYSSEY_TARGET_CPU'] = 'no-such-cpu'\n"
                      "import odyssey_training as ot\n"
                      "from odyssey_training.optimizers import SGD\n"
                      "w = ot.Parameter(np.ones(4, np.float32))\n"
                      "w.grad = np.ones(4, np.float32)\n"
                      "SGD([w], lr=0.1).step()\n"
                      "from mpi4py import MPI\n"
                      "MPI.COMM_WORLD.Barrier()\n")
    result, seconds = run(2, script, launcher=["-m", "odyssey_training.distributed"],
                          check=False, timeout=60)
    assert result.returncode != 0 and seconds < 30
    assert "[rank 1/2" in result.stderr and "no-such-cpu" in result.stderr
