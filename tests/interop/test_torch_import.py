"""torch stays optional: importing odyssey_training (any runtime package) never
imports torch, and the interop package says what to install when torch is
missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

PACKAGES = ["odyssey_training", "odyssey_training.optimizers", "odyssey_training.schedulers",
            "odyssey_training.metrics", "odyssey_training.loops", "odyssey_training.callbacks",
            "odyssey_training.interop"]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.nokernel
def test_importing_odyssey_training_never_imports_torch():
    code = "\n".join([f"import {p}" for p in PACKAGES] + [
        "from odyssey_training.optimizers import AdamW",
        "import sys",
        "print('torch' in sys.modules)"])
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.nokernel
def test_without_torch_the_interop_import_names_the_extra():
    # sys.modules["torch"] = None makes "import torch" raise ImportError, as when
    # torch is not installed
    code = ("import sys; sys.modules['torch'] = None\n"
            "import odyssey_training, odyssey_training.interop\n"
            "try:\n"
            "    import odyssey_training.interop.torch\n"
            "except ImportError as err:\n"
            "    print(err)\n")
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert "needs PyTorch" in result.stdout
    assert "odyssey-training[torch]" in result.stdout
