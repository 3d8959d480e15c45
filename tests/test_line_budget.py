"""Small modules with one job each: no source file of the compiler or the
runtime grows past the line budget (STYLE.md: about 400 lines)."""

from pathlib import Path

import pytest

BUDGET = 450
ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for d in ("codegen", "odyssey_training") for p in (ROOT / d).rglob("*.py"))


@pytest.mark.nokernel
@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_line_budget(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= BUDGET, f"{path.name} has {lines} lines; split it (budget {BUDGET})"
