"""odyssey-codegen: generate/--check, kernels for a named CPU, show --ir/--asm,
list, cache info/clear."""

import os
import shutil
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "odyssey_codegen.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env={**os.environ, **(env or {})})


def test_generated_modules_are_fresh():
    out = cli("generate", "--check")
    assert out.returncode == 0, out.stderr
    assert "are fresh" in out.stdout


def test_check_detects_a_stale_module(tmp_path):
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    shutil.copytree(ROOT / "generated", tmp_path / "generated")
    assert cli("generate", "--check", cwd=tmp_path).returncode == 0
    spec = tmp_path / "specs" / "optimizers" / "lion.toml"
    spec.write_text(spec.read_text().replace("default = 1e-4", "default = 2e-4"))
    out = cli("generate", "--check", cwd=tmp_path)
    assert out.returncode == 1 and "lion.py" in out.stderr
    (tmp_path / "generated" / "orphan.py").write_text("")
    out = cli("generate", cwd=tmp_path)
    assert out.returncode == 0
    out = cli("generate", "--check", cwd=tmp_path)
    assert out.returncode == 1 and "orphan.py" in out.stderr
    assert "lr: float = 0.0002" in (tmp_path / "generated" / "lion.py").read_text()


def test_show_ir_and_asm():
    out = cli("show", "adam", "--ir", "--dtype", "float32", "--width", "8")
    assert out.returncode == 0, out.stderr
    assert "<8 x float>" in out.stdout and "define" in out.stdout
    out = cli("show", "sgd", "--asm", "--cpu", "skylake-avx512", "--simd-bits", "512",
              "--flag", "use_momentum=1")
    assert out.returncode == 0, out.stderr
    assert "zmm" in out.stdout and "width=16" in out.stdout
    # the header says which kernel the runtime picks and why
    out = cli("show", "adamw", "--asm")
    assert out.returncode == 0, out.stderr
    head = out.stdout.splitlines()[:2]
    assert "target's default" in head[0] and "prefetch 512 B ahead" in head[0]
    assert "AdamW(..., simd_width=None)" in head[1]
    out = cli("show", "adamw", "--asm", "--width", "4")
    assert "width=4 (--width)" in out.stdout and "simd_width=4" in out.stdout
    # the environment's width applies to a named CPU too, and the header says so
    out = cli("show", "adamw", "--ir", "--cpu", "znver2", env={"ODYSSEY_SIMD_BITS": "128"})
    assert out.returncode == 0, out.stderr
    assert "width=4 (ODYSSEY_SIMD_BITS)" in out.stdout.splitlines()[0]


def test_show_unknown_flag_and_spec_are_errors():
    out = cli("show", "adam", "--flag", "nesterov=1")
    assert out.returncode == 2 and "unknown flag" in out.stderr
    out = cli("show", "adamax")
    assert out.returncode == 2 and "no such spec" in out.stderr


def test_kernels_for_a_named_cpu_fill_the_cache(tmp_path):
    """The counts are of this command's kernels: on an empty cache every one is
    compiled (the gradient-norm kernel included), then every one is read back."""
    env = {"ODYSSEY_CACHE_DIR": str(tmp_path)}
    out = cli("kernels", "lion", "--cpu", "znver2", "--dtype", "float32", env=env)
    assert out.returncode == 0, out.stderr
    # two Lion variants (clip or not) + the norm kernel
    assert "3 kernels for znver2 (256-bit vectors): 3 compiled, 0 from the cache," in out.stdout
    entries = len(list(tmp_path.glob("*.o")))
    assert entries == 3
    again = cli("kernels", "lion", "--cpu", "znver2", "--dtype", "float32", env=env)
    assert ": 0 compiled, 3 from the cache," in again.stdout
    sorted(tmp_path.glob("*.o"))[0].unlink()
    partial = cli("kernels", "lion", "--cpu", "znver2", "--dtype", "float32", env=env)
    assert ": 1 compiled, 2 from the cache," in partial.stdout
    info = cli("cache", "info", env=env)
    assert f"entries: {entries}" in info.stdout
    assert f"removed {entries}" in cli("cache", "clear", env=env).stdout
    assert cli("kernels", "--cpu", "help").stdout.count("\n") > 50


def test_list_names_every_standard_spec():
    out = cli("list")
    for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Lion"):
        assert name in out.stdout
