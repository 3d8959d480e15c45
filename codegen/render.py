"""Rendering: a spec -> one importable Python module (jinja2 template).

The module holds the spec source (so an installed package needs no spec
files), a class with a typed ``__init__`` (torch's argument names and
defaults) and a docstring generated from the spec: the symbol/argument table,
flags, state, per-step scalars, the update statements and references.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from .spec import Spec, StateBuffer

__all__ = ["render_module", "module_name", "render_package_init"]

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("codegen", "templates"),
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
    autoescape=False,
)
_env.filters["pyrepr"] = repr


def module_name(spec: Spec) -> str:
    return spec.name.lower()


def _init_text(buf: StateBuffer) -> str:
    if buf.init == "zeros":
        return "zeros"
    if buf.init == "grad":
        return "the first gradient (as transformed by the statements before it)"
    return f"``{buf.init}``"


def _hyper_rows(spec: Spec) -> list[dict[str, str]]:
    rows, done = [], set()
    tuples = spec.tuples()
    for h in spec.hypers:
        if h.tuple:
            if h.tuple in done:
                continue
            done.add(h.tuple)
            members = [spec.hyper(n) for n in tuples[h.tuple]]
            rows.append({
                "arg": h.tuple,
                "type": "tuple[" + ", ".join("float" for _ in members) + "]",
                "default": "(" + ", ".join(repr(m.default) for m in members) + ")",
                "symbol": ", ".join(m.symbol for m in members if m.symbol),
                "constraint": "; ".join(f"{m.name} {m.constraint_text()}" for m in members),
                "doc": "; ".join(f"{m.name}: {m.doc}" for m in members if m.doc),
                "aliases": "``, ``".join(m.name for m in members),
            })
        else:
            rows.append({"arg": h.name, "type": "float", "default": repr(h.default),
                         "symbol": h.symbol, "constraint": h.constraint_text(), "doc": h.doc,
                         "aliases": "``, ``".join(h.aliases)})
    return rows


def render_module(spec: Spec, spec_path: str, import_from: str) -> str:
    """Source of the module for ``spec``; ``import_from`` is the doctest's import path."""
    text = _env.get_template("optimizer.py.j2").render(
        spec=spec, spec_path=spec_path, doc=spec.doc, hyper_rows=_hyper_rows(spec),
        init_text=_init_text, import_from=import_from)
    return "\n".join(line.rstrip() for line in text.split("\n"))


def render_package_init(names: list[tuple[str, str]]) -> str:
    """``__init__.py`` of a generated package: ``{module: class}`` of its modules."""
    body = "".join(f"    {mod!r}: {cls!r},\n" for mod, cls in sorted(names))
    return ('"""Optimizer modules generated from specs by ``odyssey-codegen generate``;\n'
            'do not edit by hand (CI checks they are fresh)."""\n\n'
            f"MODULES = {{\n{body}}}\n")


def relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name
