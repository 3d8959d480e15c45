"""README's two commands, .ci/run, the `train` extra (no torch), the console script, and
the embedded data inside the built wheel."""

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.nokernel


def quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_has_two_one_line_commands_and_ci_runs_the_second():
    first, second = quickstart_commands()
    assert "\n" not in first and "\n" not in second
    assert 'pip install -e ".[train]"' in first and first.endswith("odyssey-train")
    assert second.endswith("-m pytest")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert second in ci
    assert ".venv/bin/odyssey-codegen generate --check" in ci


def test_train_extra_never_pulls_torch_and_ships_the_data():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    train = project["project"]["optional-dependencies"]["train"]
    assert not any(req.lower().startswith("torch") for req in train)
    assert project["project"]["scripts"]["odyssey-train"] == "odyssey_training.job.cli:main"
    setuptools = project["tool"]["setuptools"]
    assert "odyssey_training.job" in setuptools["packages"]
    assert "digits.npz" in setuptools["package-data"]["odyssey_training.job.data"]


@pytest.mark.slow
def test_wheel_contains_the_embedded_digits(tmp_path):
    pytest.importorskip("setuptools", minversion="77")
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("codegen", "specs", "generated", "odyssey_training"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
                           str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    wheel, = (tmp_path / "dist").glob("odyssey_training-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"odyssey_training/job/data/digits.npz", "odyssey_training/job/data/README.md",
            "odyssey_training/job/cli.py", "odyssey_training/__main__.py"} <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "odyssey-train = odyssey_training.job.cli:main" in \
        zipfile.ZipFile(wheel).read(entry_points).decode()
