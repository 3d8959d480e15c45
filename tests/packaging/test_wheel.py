"""Packaging: the wheel holds every package directory, and a non-editable install of it
works in a fresh virtual environment (compile a kernel, take a step, render a module).

The wheel is built offline (``pip wheel --no-build-isolation --no-index``: CI has no
network in tests) from a copy of the source tree, and installed with ``--no-deps`` into
a venv whose only view of the dependencies is a ``.pth`` line naming this environment's
site-packages (a plain path: the editable install's finder there is not activated), so
the child imports ``odyssey_training`` from the wheel and nothing else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def source_roots() -> dict[str, Path]:
    """Installed package name -> the repo folder it is built from."""
    return {"odyssey_training": ROOT / "odyssey_training",
            **{pkg: ROOT / folder for pkg, folder in SETUPTOOLS["package-dir"].items()}}


def shipped_files() -> dict[str, Path]:
    """Every file the wheel must hold (its path in the wheel -> the source file): all
    files under the source roots except caches and compiled bytecode."""
    out = {}
    for pkg, root in source_roots().items():
        for path in root.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                rel = path.relative_to(root).as_posix()
                out[f"{pkg.replace('.', '/')}/{rel}"] = path
    return out


def package_dirs() -> set[str]:
    """Dotted names of every directory holding a shipped file (code or data), and of
    the directories between them and their root package."""
    out = set()
    for wheel_path in shipped_files():
        parts = wheel_path.split("/")[:-1]
        out |= {".".join(parts[:n]) for n in range(1, len(parts) + 1)}
    return out


@pytest.mark.nokernel
def test_pyproject_lists_every_package_directory():
    """A new subpackage (or data folder) must be added to pyproject's packages list,
    or a wheel install silently lacks it."""
    missing = sorted(package_dirs() - set(SETUPTOOLS["packages"]))
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
    stale = sorted(set(SETUPTOOLS["packages"]) - package_dirs())
    assert not stale, f"listed in pyproject.toml but not in the tree: {stale}"


CHILD = """
    import os, sys
    from pathlib import Path
    import numpy as np
    import odyssey_codegen, odyssey_training as ot
    from odyssey_codegen.cli import main as codegen
    from odyssey_training.metrics import Accuracy
    from odyssey_training.optimizers import AdamW

    prefix = Path(sys.prefix).resolve()
    for module in (ot, odyssey_codegen):               # the wheel's copy, not the repo's
        assert Path(module.__file__).resolve().is_relative_to(prefix), module.__file__
    assert not any(Path(os.environ["ODYSSEY_CACHE_DIR"]).iterdir())

    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(1000)
    grads = [rng.standard_normal(1000) for _ in range(3)]
    w = ot.Parameter(p0.copy())
    opt = AdamW([w], lr=1e-2, betas=(0.9, 0.99), weight_decay=0.1, max_grad_norm=5.0)
    p, m, v = p0.copy(), np.zeros(1000), np.zeros(1000)
    for t, g in enumerate(grads, 1):                   # AdamW, written from the paper
        w.grad = g
        opt.step()
        g = g * min(1.0, 5.0 / (np.linalg.norm(g) + 1e-6))
        p *= 1 - 1e-2 * 0.1
        m = 0.9 * m + 0.1 * g
        v = 0.99 * v + 0.01 * g * g
        p -= 1e-2 / (1 - 0.9**t) * m / (np.sqrt(v) / np.sqrt(1 - 0.99**t) + 1e-8)
    np.testing.assert_allclose(w.data, p, rtol=1e-9, atol=1e-12)
    assert any(Path(os.environ["ODYSSEY_CACHE_DIR"]).glob("*.o"))   # compiled, cached

    acc = Accuracy()
    acc.update(np.eye(4)[[0, 1, 2, 3]], np.array([0, 1, 2, 0]))
    assert acc.compute() == 0.75

    out = Path(sys.argv[1])
    assert codegen(["generate", "lion", "--out", str(out)]) == 0   # templates + specs ship
    sys.path.insert(0, str(out))
    import lion
    assert lion.Lion.__init__.__defaults__[1] == 1e-4
    print("ok")
"""


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_trains(tmp_path):
    src, dist, venv = tmp_path / "src", tmp_path / "dist", tmp_path / "venv"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", "*.egg-info", "build", "dist", ".hypothesis",
        "tests", "bench", "docs", "examples"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    build = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-q", "-w", str(dist), str(src)], capture_output=True, text=True,
                           timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    assert "absent from the `packages` configuration" not in build.stderr
    (wheel,) = dist.glob("odyssey_training-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(set(shipped_files()) - names)
    assert not missing, f"files missing from the wheel: {missing}"
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names
                                                if n.endswith(".dist-info/METADATA"))).decode()
    for dep in PYPROJECT["project"]["dependencies"]:
        assert f"Requires-Dist: {dep}" in metadata
    assert "odyssey-codegen = odyssey_codegen.cli:main" in zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))).decode()

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True,
                             check=True).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "_odyssey_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    install = subprocess.run([*pip, "--python", str(python), "install", "--no-deps",
                              "--no-index", "-q", str(wheel)], capture_output=True, text=True,
                             timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    check = subprocess.run([*pip, "--python", str(python), "check"], capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr

    cache = tmp_path / "cache"
    cache.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["ODYSSEY_CACHE_DIR"] = str(cache)
    child = subprocess.run([str(python), "-c", textwrap.dedent(CHILD), str(tmp_path / "out")],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert child.returncode == 0 and child.stdout.splitlines()[-1] == "ok", child.stderr[-3000:]
    script = subprocess.run([str(venv / "bin" / "odyssey-codegen"), "list"], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path, env=env)
    assert script.returncode == 0 and "AdamW" in script.stdout, script.stderr[-3000:]
