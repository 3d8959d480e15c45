"""Malformed specs: every error is a SpecError naming file, line, text and the
expectation; nothing in a spec is ever evaluated as Python."""

import textwrap

import pytest

from odyssey_codegen.spec import SpecError, load_spec_file, load_spec_text

pytestmark = pytest.mark.nokernel

GOOD = """
name = "Toy"
[hyper]
lr = { default = 0.1, min = 0.0 }
[flags]
maximize = false
[state]
m = "zeros"
[update]
statements = [
  "g = -g  if maximize",
  "m = 0.9 * m + g",
  "p = p - lr * m",
]
"""


def with_statement(stmt: str) -> str:
    return GOOD.replace('"p = p - lr * m",', f'"p = p - lr * m",\n  "{stmt}",')


def test_good_spec_loads():
    spec = load_spec_text(GOOD, "toy.toml")
    assert spec.name == "Toy" and spec.hyper_names == ("lr",)
    assert [s.target for s in spec.statements] == ["g", "m", "p"]
    assert spec.statements[0].cond is not None


@pytest.mark.parametrize("stmt, fragment", [
    ("p = __import__('os').system('true')", "unknown function"),
    ("p = p.real", "Attribute"),
    ("p = (lambda: p)()", "unknown function"),
    ("p = [p][0]", "not allowed"),
    ("p = open('x')", "unknown function"),
    ("p = q + 1", "unknown name 'q'"),
    ("p = p +", "syntax error"),
    ("p = sqrt(p, g)", "sqrt() takes 1"),
    ("p = 'text'", "numeric constants"),
    ("p = 1 < p < 2", "chained"),
    ("lr = 0.5", "cannot assign to 'lr'"),
    ("p + 1", "not an assignment"),
    ("p = max(p, g, lr)", "max() takes 2"),
])
def test_bad_statement(stmt, fragment):
    text = with_statement(stmt)
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "toy.toml")
    err = info.value
    message = str(err)
    assert fragment in message
    assert message.startswith("toy.toml:")
    assert err.line is not None and stmt.split("=")[0].strip() in text.splitlines()[err.line - 1]
    assert "expected" in message


@pytest.mark.parametrize("text, fragment", [
    (GOOD.replace("[hyper]", "[hyper\n"), "invalid TOML"),
    (GOOD.replace('lr = { default = 0.1, min = 0.0 }', 'lr = { min = 0.0 }'), "needs a default"),
    (GOOD.replace('default = 0.1, min = 0.0', 'default = -1.0, min = 0.0'), "violates"),
    (GOOD.replace('m = "zeros"', 'm = "ones"'), "bad init"),
    (GOOD.replace('"p = p - lr * m",', '"m = m * lr",'), "never assigns the parameter"),
    (GOOD.replace('name = "Toy"', 'name = "Toy"\nsurprise = 1'), "unknown top-level key"),
    (GOOD.replace('name = "Toy"', 'name = "not an identifier"'), "identifier"),
    (GOOD.replace('maximize = false', 'maximize = "yes"'), "flag 'maximize'"),
    (GOOD.replace('"g = -g  if maximize"', '"g = -g  if lr > 0"'), "unknown name 'lr'"),
    (GOOD.replace('lr = { default = 0.1, min = 0.0 }', 'step = 0.1'), "reserved"),
    (GOOD.replace('kind', 'kind') + '\n[[checks]]\nexpr = "lr >"\nmessage = "x"\n', "syntax"),
])
def test_bad_spec(text, fragment):
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "toy.toml")
    assert fragment in str(info.value)
    assert str(info.value).startswith("toy.toml")


def test_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec_file(tmp_path / "absent.toml")


def test_line_numbers_point_at_the_offending_statement(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(textwrap.dedent(with_statement("p = p * undefined_name")))
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    lines = path.read_text().splitlines()
    assert "undefined_name" in lines[info.value.line - 1]
    assert str(path) in str(info.value)


def test_flag_used_as_value_is_rejected_at_ir_time():
    from odyssey_codegen.ir import IRError, build_ir
    spec = load_spec_text(with_statement("p = p * maximize"), "toy.toml")
    with pytest.raises(IRError, match="flag 'maximize' used as a value"):
        build_ir(spec, {"maximize": False}, "float32")


def test_variant_local_used_where_undefined():
    text = GOOD.replace('"m = 0.9 * m + g",', '"d = 2 * g  if maximize",\n  "m = 0.9 * m + d",')
    spec = load_spec_text(text, "toy.toml")
    from odyssey_codegen.ir import IRError, build_ir
    build_ir(spec, {"maximize": True}, "float64")  # defined in this variant
    with pytest.raises(IRError, match="'d' is not defined in this variant"):
        build_ir(spec, {"maximize": False}, "float64")
