"""The limits of the spec language (codegen/limits.py): hostile input is a SpecError
naming the file, the line and the limit, raised fast and in bounded memory, before
anything deep or large is built; a spec that reaches the limits still compiles."""

from __future__ import annotations

import threading
import time
import tracemalloc

import numpy as np
import pytest

import odyssey_training as ot
from odyssey_codegen import limits
from odyssey_codegen.metric_spec import load_metric_spec_file, load_metric_spec_text
from odyssey_codegen.spec import SpecError, load_spec_file, load_spec_text
from odyssey_training.optimizers.base import Optimizer

GOOD = """name = "Toy"
[hyper]
lr = { default = 0.1, min = 0.0 }
[state]
m = "zeros"
[update]
statements = [
  "m = 0.9 * m + g",
  "p = p - lr * m",
]
"""
METRIC = """name = "toy_metric"
kind = "metric"
[reduce]
predict = "argmax"
count = "hits"
preds = ["float32"]
targets = ["int64"]
"""


def with_statement(expr: str) -> str:
    return GOOD.replace('"p = p - lr * m",', f'"p = p - lr * m",\n  "p = {expr}",')


def rejected(run, *fragments: str, line: int | None = None, seconds: float = 2.0,
             megabytes: float = 64.0) -> SpecError:
    """``run()`` raises a SpecError holding every fragment, in bounded time and memory."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SpecError) as info:
            run()
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    if line is not None:
        assert info.value.line == line, message
    assert elapsed < seconds, f"{elapsed:.2f} s: {message}"
    assert peak < megabytes, f"{peak:.1f} MB: {message}"
    return info.value


@pytest.mark.nokernel
@pytest.mark.parametrize("name, expr, limit", [
    ("parentheses", "(" * 5000 + "p" + ")" * 5000, "MAX_EXPR_CHARS"),
    ("parentheses within the length", "(" * 40 + "p" + ")" * 40, "MAX_EXPR_DEPTH"),
    ("unary chain", "-" * 900 + "p", "MAX_EXPR_DEPTH"),
    ("long unary chain", "-" * 100_000 + "p", "MAX_EXPR_CHARS"),
    ("not chain", "not " * 200 + "p", "MAX_EXPR_DEPTH"),
    ("sum chain", "p + " * 200 + "p", "MAX_EXPR_DEPTH"),
    ("power tower", "p ** " * 100 + "p", "MAX_EXPR_DEPTH"),
    ("and chain", "where(" + " and ".join(["p > 0"] * 60) + ", p, g)", "MAX_EXPR_DEPTH"),
    ("nested calls", "sqrt(" * 40 + "p" + ")" * 40, "MAX_EXPR_DEPTH"),
    ("100 KB expression", "p + " * 25_000 + "p", "MAX_EXPR_CHARS"),
    ("1 MB expression", "p + " * 250_000 + "p", "MAX_SPEC_BYTES"),
    ("long integer", "1" * 5000, "MAX_EXPR_CHARS"),
    ("41-digit integer", "1" * 41, "MAX_NUMBER_CHARS"),
    ("huge literal", "1e39 * p", "MAX_MAGNITUDE"),
    ("infinite literal", "p + 1e999", "MAX_MAGNITUDE"),
    ("huge hex literal", "0x" + "f" * 40 + " * p", "MAX_MAGNITUDE"),
])
def test_hostile_expressions(name, expr, limit):
    text = with_statement(expr)
    err = rejected(lambda: load_spec_text(text, "hostile.toml"), "hostile.toml:", limit)
    assert err.line == 10                       # the statement's line
    assert len(str(err)) < 600                  # the offending text is quoted, clipped


@pytest.mark.nokernel
def test_non_utf8_file_names_file_and_line(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(GOOD.replace("Toy", "T\xf6y").encode("latin-1"))
    rejected(lambda: load_spec_file(path), str(path), "not UTF-8", "0xf6", line=1)
    path.write_bytes(GOOD.encode() + b"# \xff\xfe\n")
    rejected(lambda: load_spec_file(path), "not UTF-8", line=11)
    rejected(lambda: ot.load_spec(path), str(path), "not UTF-8")
    rejected(lambda: load_metric_spec_file(path), str(path), "not UTF-8")
    rejected(lambda: load_spec_text("name = '\udc80'", "s.toml"), "s.toml:1", "surrogate")


@pytest.mark.nokernel
def test_huge_file_is_not_read_whole(tmp_path):
    path = tmp_path / "huge.toml"
    with open(path, "wb") as fh:                 # 1 GiB, sparse: nothing to read but zeros
        fh.truncate(2**30)
    rejected(lambda: load_spec_file(path), str(path), "MAX_SPEC_BYTES", megabytes=8)
    big = GOOD + "# padding\n" * (limits.MAX_SPEC_BYTES // 10)
    rejected(lambda: load_spec_text(big, "big.toml"), "big.toml:", "MAX_SPEC_BYTES")
    rejected(lambda: load_metric_spec_text(big.replace(GOOD, METRIC), "m.toml"),
             "MAX_SPEC_BYTES")


@pytest.mark.nokernel
@pytest.mark.parametrize("toml, limit, line", [
    ("x = " + "[" * 5000 + "]" * 5000, "MAX_TOML_DEPTH", 12),
    ("x = " + "{ a = " * 400 + "1" + " }" * 400, "MAX_TOML_DEPTH", 12),
    ("x = 1" + "0" * 5000, "MAX_NUMBER_CHARS", 12),
    ("x = [[[[[[[[[1]]]]]]]]]", "MAX_TOML_DEPTH", 12),
])
def test_hostile_toml(toml, limit, line):
    text = GOOD + "[extra]\n" + toml + "\n"
    rejected(lambda: load_spec_text(text, "t.toml"), "t.toml:", limit, line=line)
    metric = METRIC + "[extra]\n" + toml + "\n"
    rejected(lambda: load_metric_spec_text(metric, "m.toml"), "m.toml:", limit)


@pytest.mark.nokernel
def test_brackets_and_digits_inside_strings_are_text():
    doc = '"""' + "[" * 100 + " " + "9" * 100 + ' ]]"""'
    spec = load_spec_text(f"doc = {doc}\n# {'{' * 50}\n" + GOOD, "s.toml")
    assert spec.doc.startswith("[" * 100)


@pytest.mark.nokernel
@pytest.mark.parametrize("table, count, limit", [
    ("update", limits.MAX_STATEMENTS + 1, "MAX_STATEMENTS"),
    ("flags", limits.MAX_FLAGS + 1, "MAX_FLAGS"),
    ("hyper", limits.MAX_ENTRIES + 1, "MAX_ENTRIES"),
    ("scalars", limits.MAX_ENTRIES + 1, "MAX_ENTRIES"),
    ("state", limits.MAX_ENTRIES + 1, "MAX_ENTRIES"),
])
def test_counts(table, count, limit):
    value = {"flags": "false", "hyper": "1.0", "scalars": '"step"', "state": '"zeros"'}
    tables = {"hyper": "lr = 0.1\n", "state": "", "flags": "", "scalars": ""}
    if table != "update":
        extra = count - (table == "hyper")
        tables[table] += "".join(f"n{i} = {value[table]}\n" for i in range(extra))
    statements = ['"p = p - lr * g"'] * (count if table == "update" else 1)
    text = 'name = "Many"\n' + "".join(f"[{k}]\n{v}" for k, v in tables.items())
    text += "[update]\nstatements = [" + ", ".join(statements) + "]\n"
    err = rejected(lambda: load_spec_text(text, "n.toml"), "n.toml:", limit, f"{count} entries")
    assert err.line is not None


@pytest.mark.nokernel
@pytest.mark.parametrize("entry, fragment", [
    ("lr = { default = 1e39 }", "MAX_MAGNITUDE"),
    ("lr = { default = 0.1, max = inf }", "MAX_MAGNITUDE"),
    ("lr = { default = 0.1, min = nan }", "MAX_MAGNITUDE"),
    ("lr = 1" + "0" * 39, "MAX_MAGNITUDE"),
])
def test_number_magnitudes_in_toml(entry, fragment):
    text = GOOD.replace("lr = { default = 0.1, min = 0.0 }", entry)
    rejected(lambda: load_spec_text(text, "m.toml"), "m.toml:3", fragment)


def chain(inner: str, levels: int) -> str:
    for _ in range(levels):
        inner = f"({inner} + 1)"
    return inner


def deep_spec(depth: int) -> str:
    """Scalars that each nest 30 levels on the previous one: the final statement is
    ``depth`` levels deep once they are substituted."""
    scalars, previous, remaining, k = [], "step", depth - 3, 0
    while remaining > 1:
        levels = min(30, remaining - 1)
        k += 1
        scalars.append(f's{k} = "{chain(previous, levels)}"')
        previous, remaining = f"s{k}", remaining - levels
    body = "\n".join(scalars)
    return (f'name = "Deep"\n[hyper]\nlr = 1e-3\n[scalars]\n{body}\n[update]\n'
            f'statements = ["p = p - lr * ({previous} * g)"]\n')


def doubling_spec(k: int) -> str:
    """``s_i = s_{i-1} + s_{i-1}``: the substituted expression doubles at each scalar."""
    lines = ['s1 = "step + step"'] + [f's{i} = "s{i - 1} + s{i - 1}"' for i in range(2, k + 1)]
    body = "\n".join(lines)
    return (f'name = "Wide"\n[hyper]\nlr = 1e-6\n[scalars]\n{body}\n[update]\n'
            f'statements = ["p = p - lr * (s{k} * g)"]\n')


@pytest.mark.nokernel
def test_substituted_size_is_bounded():
    rejected(lambda: load_spec_text(deep_spec(limits.MAX_EXPANDED_DEPTH + 1), "d.toml"),
             "d.toml:", "MAX_EXPANDED_DEPTH", "97 deep")
    rejected(lambda: load_spec_text(doubling_spec(60), "w.toml"), "w.toml:",
             "MAX_EXPANDED_NODES")
    # uniform locals are substituted too; a local that reads g is not
    locals_ = ", ".join(f'"u{i} = u{i - 1} + u{i - 1}"' for i in range(1, 14))
    text = GOOD.replace('"m = 0.9 * m + g",', f'"u0 = lr", {locals_}, "m = 0.9 * m + g",')
    rejected(lambda: load_spec_text(text, "u.toml"), "MAX_EXPANDED_NODES")
    kernel_locals = ", ".join(f'"v{i} = v{i - 1} + v{i - 1}"' for i in range(1, 14))
    text = GOOD.replace('"m = 0.9 * m + g",', f'"v0 = g", {kernel_locals}, "m = 0.9 * m + g",')
    load_spec_text(text, "v.toml")


@pytest.mark.parametrize("text, dtype, expected", [
    # step 1: the last scalar is 1 + 92 after 92 levels of "+ 1" (96 - 3 - 1)
    (deep_spec(limits.MAX_EXPANDED_DEPTH), np.float32, 1 - 1e-3 * 93),
    (doubling_spec(11), np.float64, 1 - 1e-6 * 2**11),
])
def test_a_spec_at_the_limits_compiles_and_steps(text, dtype, expected):
    """The limits leave room: the whole pipeline (IR passes, lowering, compile) handles
    a spec at MAX_EXPANDED_DEPTH / near MAX_EXPANDED_NODES, also on a thread whose
    caller is already deep in its own stack."""
    spec = load_spec_text(text, "edge.toml")
    cls = type(spec.name, (Optimizer,), {"spec": spec})
    w = ot.Parameter(np.ones(33, dtype))
    w.grad = np.ones(33, dtype)
    errors = []

    def run(depth: int) -> None:
        if depth:
            return run(depth - 1)
        try:
            cls([w]).step()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=run, args=(200,))
    thread.start()
    thread.join()
    assert not errors, errors
    np.testing.assert_allclose(w.data, expected, rtol=1e-6)


@pytest.mark.nokernel
def test_standard_specs_sit_well_inside_the_limits():
    from odyssey_codegen.expr import expanded_size
    from odyssey_codegen.spec import standard_spec_dir

    for path in sorted((standard_spec_dir() / "optimizers").glob("*.toml")):
        spec = load_spec_file(path)
        known = {}
        for scalar in spec.scalars:
            known[scalar.name] = expanded_size(scalar.expr, known)
        for st in spec.statements:
            depth, nodes = expanded_size(st.expr, known)
            assert depth * 4 < limits.MAX_EXPANDED_DEPTH and nodes * 50 < limits.MAX_EXPANDED_NODES
            assert len(st.text) * 5 < limits.MAX_EXPR_CHARS
        assert len(spec.flags) <= limits.MAX_FLAGS // 2
        assert path.stat().st_size * 50 < limits.MAX_SPEC_BYTES
