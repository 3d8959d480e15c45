"""A spec is untrusted input and its generated module is imported: spec text must
reach the module only as data.  Hostile text goes into every field that is
rendered (doc, hyperparameter docs and symbols, flag docs, references, the
file's name); the module must import without side effects, hold only the
expected statements, and `generate --check` must still see tampering."""

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from odyssey_codegen.render import (CLASS_SHAPE, MODULE_SHAPE, check_module_shape,
                                    docstring_literal, render_module)
from odyssey_codegen.spec import SpecError, load_spec_text

pytestmark = pytest.mark.nokernel

PAYLOADS = [
    '""" ; open("MARKER", "w") ; """',
    "''' ; open('MARKER', 'w') ; '''",
    '"""\n__import__("os").system("touch MARKER")\n"""',
    'x\\',                                   # a trailing backslash would escape the closing quote
    '"',                                     # a trailing quote would make """"
    "{{ 7 * 7 }} {% if true %}jinja{% endif %}",
    "line\rbreak\u2028sep\x0bvt",            # characters Python reads as line breaks
]


def toml_basic(text: str) -> str:
    """``text`` as a TOML basic string (every control character escaped)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def hostile_spec(payload: str) -> str:
    s = toml_basic(payload)
    return f"""
name = "Hostile"
kind = "optimizer"
doc = {s}
references = [{s}]
[hyper]
lr = {{ default = 1e-3, min = 0.0, doc = {s}, symbol = {s} }}
beta1 = {{ default = 0.9, tuple = "betas", doc = {s} }}
beta2 = {{ default = 0.99, tuple = "betas", symbol = {s} }}
[flags]
maximize = {{ default = false, doc = {s} }}
nesterov = {{ when = "lr > 0", doc = {s} }}
[state]
m = "zeros"
[update]
statements = ["g = -g if maximize", "m = beta1 * m + g", "p = p - lr * m"]
[[checks]]
expr = "lr >= 0"
message = {s}
"""


def import_fresh(path: Path):
    spec = importlib.util.spec_from_file_location(f"hostile_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generate(spec_file: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "odyssey_codegen.cli", "generate",
                           str(spec_file), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=60, cwd=spec_file.parent)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_text_is_rendered_as_data(payload, tmp_path, monkeypatch):
    spec = load_spec_text(hostile_spec(payload), "hostile.toml")
    source = render_module(spec, "hostile.toml", "hostile")
    tree = ast.parse(source)
    assert tuple(type(n).__name__ for n in tree.body) == MODULE_SHAPE
    cls = tree.body[-1]
    assert tuple(type(n).__name__ for n in cls.body) == CLASS_SHAPE
    # the only names the module binds at top level
    bound = [t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets]
    assert bound == ["__all__", "SPEC_PATH", "SPEC_SOURCE"]
    # the only calls anywhere: load_spec_text(...) and super().__init__(...)
    calls = sorted(ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call))
    assert calls == ["load_spec_text", "super", "super().__init__"]

    path = tmp_path / "hostile.py"
    path.write_text(source, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    module = import_fresh(path)
    assert not (tmp_path / "MARKER").exists()
    doc = module.Hostile.__doc__
    assert payload.split("\n")[0] in doc or payload in doc
    assert module.Hostile.spec.doc == payload.strip()


def test_hostile_file_name_is_data(tmp_path, monkeypatch):
    name = 'x"""; open("MARKER", "w"); """.toml'
    spec_file = tmp_path / name
    spec_file.write_text(hostile_spec('"""'), encoding="utf-8")
    out = tmp_path / "out"
    result = generate(spec_file, out)
    assert result.returncode == 0, result.stderr
    monkeypatch.chdir(tmp_path)
    module = import_fresh(out / "hostile.py")
    assert not (tmp_path / "MARKER").exists()
    assert module.SPEC_PATH == name


def test_generate_check_detects_tampering(tmp_path):
    spec_file = tmp_path / "hostile.toml"
    spec_file.write_text(hostile_spec(PAYLOADS[0]), encoding="utf-8")
    out = tmp_path / "out"
    assert generate(spec_file, out).returncode == 0
    assert generate(spec_file, out, "--check").returncode == 0
    module = out / "hostile.py"
    clean = module.read_text(encoding="utf-8")
    module.write_text(clean + "\nimport os\n", encoding="utf-8")
    result = generate(spec_file, out, "--check")
    assert result.returncode == 1 and "hostile.py" in result.stderr
    module.write_text(clean.replace("p = p - lr * m", "p = p + lr * m"), encoding="utf-8")
    assert generate(spec_file, out, "--check").returncode == 1


def test_shape_check_refuses_extra_statements():
    spec = load_spec_text(hostile_spec("plain"), "hostile.toml")
    source = render_module(spec, "hostile.toml", "hostile")
    with pytest.raises(AssertionError, match="statements"):
        check_module_shape(source + "\nimport os\n")


@pytest.mark.parametrize("field, value", [
    ("name", "class"), ("name", "None"), ("hyper", "lambda"), ("flag", "import"),
    ("tuple", "for"), ("tuple", "a b"),
])
def test_keywords_and_non_identifiers_are_spec_errors(field, value):
    text = hostile_spec("plain")
    if field == "name":
        text = text.replace('name = "Hostile"', f'name = "{value}"')
    elif field == "hyper":
        text = text.replace("lr = {", f"{value} = {{").replace("lr", value)
    elif field == "flag":
        text = text.replace("maximize", value)
    else:
        text = text.replace('tuple = "betas"', f'tuple = "{value}"')
    with pytest.raises(SpecError, match="identifier|keyword"):
        load_spec_text(text, "bad.toml")


@given(st.text())
def test_docstring_literal_round_trips_any_text(text):
    literal = docstring_literal(text)
    tree = ast.parse(literal)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)
    assert ast.literal_eval(literal) == text
    assert "\r" not in literal and "\x00" not in literal


def test_hook_style_import_creates_nothing(tmp_path):
    """The repository's before-stop check, as a test: generate and import in a
    fresh interpreter, in the directory where a payload would write."""
    spec_file = tmp_path / "hostile.toml"
    spec_file.write_text(hostile_spec(PAYLOADS[0]), encoding="utf-8")
    assert generate(spec_file, tmp_path / "out").returncode == 0
    code = "import sys; sys.path.insert(0, 'out'); import hostile"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env={**os.environ})
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "MARKER").exists()
