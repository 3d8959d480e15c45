"""Fuzzing the spec readers: whatever the input, the result is a valid spec (whose
IR builds) or a SpecError naming the file -- never another exception, a hang or a
crash.  Inputs: arbitrary text and bytes, valid specs with random edits, and random
token soups in the expression positions.  Runs under the suite's hypothesis profile
("ci": derandomized) with a larger example count, each example taking milliseconds."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odyssey_codegen.ir import build_ir
from odyssey_codegen.metric_spec import MetricSpec, load_metric_spec_file, load_metric_spec_text
from odyssey_codegen.spec import Spec, SpecError, load_spec_file, load_spec_text, standard_spec_dir

pytestmark = pytest.mark.nokernel
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SEEDS = [p.read_text(encoding="utf-8")
         for p in sorted((standard_spec_dir() / "optimizers").glob("*.toml"))]
METRIC_SEEDS = [p.read_text(encoding="utf-8")
                for p in sorted((standard_spec_dir() / "metrics").glob("*.toml"))]
#: pieces that matter to TOML, to the expression language and to the limits
PIECES = ["[", "]", "{", "}", "(", ")", '"', "'", '"""', "'''", "\\", "#", "\n", "=", ",", ".",
          " if ", " else ", " and ", " or ", "not ", "-", "+", "*", "/", "**", "<", "==",
          "sqrt(", "lerp(", "where(", "max(", "p", "g", "lr", "step", "m", "exp_avg", "beta1",
          "0", "1e-8", "1e39", "1e999", "nan", "inf", "9" * 45, "0x" + "f" * 30, "true",
          "__import__", "lambda", "[[checks]]", "[update]", "statements = [", "\x00", "\udc80",
          "é", "(" * 40, "-" * 60, "{ a = " * 10]


def check_optimizer(text: str, path: str = "fuzz.toml") -> None:
    try:
        spec = load_spec_text(text, path)
    except SpecError as exc:
        assert str(exc).startswith(path), exc
        return
    assert isinstance(spec, Spec)
    flags = {f.name: f.default for f in spec.flags}
    for dtype in ("float32", "float64"):
        try:
            build_ir(spec, flags, dtype)
        except SpecError as exc:          # IRError: a variant that does not type-check
            assert str(exc).startswith(path), exc


def check_metric(text: str, path: str = "fuzz.toml") -> None:
    try:
        assert isinstance(load_metric_spec_text(text, path), MetricSpec)
    except SpecError as exc:
        assert str(exc).startswith(path), exc


@st.composite
def edited(draw, seeds: list[str]) -> str:
    """A seed spec with a few random insertions, deletions and replacements."""
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 12))
        piece = draw(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)))
        piece *= draw(st.sampled_from([1, 1, 1, 3, 50]))
        text = text[:at] + piece + text[at + cut:]
    return text


@st.composite
def soup_statement(draw) -> str:
    """A spec whose last statement is a random sequence of expression tokens."""
    tokens = draw(st.lists(st.sampled_from(PIECES[10:60]), min_size=1, max_size=40))
    expr = "".join(tokens).replace('"', "").replace("\\", "").replace("\n", " ")
    return ('name = "Soup"\n[hyper]\nlr = 0.1\nbeta1 = 0.9\n[state]\nm = "zeros"\n'
            'exp_avg = "zeros"\n[update]\nstatements = ["m = 0.9 * m + g", '
            f'"p = p - lr * m", "p = {expr}"]\n')


@FUZZ
@given(st.text(max_size=400))
def test_any_text(text):
    check_optimizer(text)
    check_metric(text)


@FUZZ
@given(edited(SEEDS))
def test_edited_optimizer_specs(text):
    check_optimizer(text)


@FUZZ
@given(edited(METRIC_SEEDS))
def test_edited_metric_specs(text):
    check_metric(text)


@FUZZ
@given(soup_statement())
def test_expression_soup(text):
    check_optimizer(text)


@settings(FUZZ, max_examples=60)
@given(st.binary(max_size=300), st.sampled_from(SEEDS))
def test_any_bytes_in_a_file(data, seed):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.toml"
        for blob in (data, seed.encode()[:len(data)] + data):
            path.write_bytes(blob)
            for load in (load_spec_file, load_metric_spec_file):
                try:
                    load(path)
                except SpecError as exc:
                    assert str(exc).startswith(str(path)), exc
