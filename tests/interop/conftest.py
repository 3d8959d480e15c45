"""The interop tests run torch on one intra-op thread: their models are tiny, and
torch's OpenMP workers spin-wait between ops, which on a machine shared with
other jobs makes each op many times slower (docs/performance.md)."""

import pytest

from tests.job.conftest import no_plots  # noqa: F401  (the job tests' fixture, for lenet5 runs)


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
