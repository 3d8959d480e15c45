"""Spec loading and validation: a TOML file -> a frozen :class:`Spec`.

Every error is a :class:`SpecError` naming the file, the line, the offending
text and what was expected.  See README.md, "The spec language"; the limits a
spec must stay within are in :mod:`odyssey_codegen.limits`.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .expr import ExprError, Node, expanded_size, names_in, parse_expr
from .limits import (MAX_ENTRIES, MAX_EXPANDED_DEPTH, MAX_EXPANDED_NODES, MAX_FLAGS,
                     MAX_STATEMENTS, check_count, check_magnitude)
from .source import SourceReader, SpecError, parse_toml, read_source

__all__ = ["standard_spec_dir", "read_source", "parse_toml", "SourceReader", "SpecError", "Hyper", "Flag", "StateBuffer", "ScalarDef", "Statement", "Check",
           "Spec", "load_spec_file", "load_spec_text", "PARAM", "GRAD", "STEP", "RESERVED"]

PARAM, GRAD, STEP = "p", "g", "step"
#: names the runtime supplies; a spec cannot declare them
RESERVED = frozenset({PARAM, GRAD, STEP, "grad_scale", "first_step", "true", "false",
                      "True", "False"})
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ASSIGN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)(.*)$", re.S)
_STATE_INITS = ("zeros", "grad")
#: (top-level key, limit, limit's name) for the tables whose size is bounded
_COUNTED = (("hyper", MAX_ENTRIES, "MAX_ENTRIES"), ("flags", MAX_FLAGS, "MAX_FLAGS"),
            ("state", MAX_ENTRIES, "MAX_ENTRIES"), ("scalars", MAX_ENTRIES, "MAX_ENTRIES"),
            ("checks", MAX_ENTRIES, "MAX_ENTRIES"), ("references", MAX_ENTRIES, "MAX_ENTRIES"),
            ("update", MAX_STATEMENTS, "MAX_STATEMENTS"))


class Hyper(NamedTuple):
    """A run-time scalar hyperparameter."""
    name: str
    default: float
    min: float | None = None
    max: float | None = None
    below: float | None = None      # strict upper bound
    above: float | None = None      # strict lower bound
    aliases: tuple[str, ...] = ()
    tuple: str | None = None        # torch's tuple argument this is part of ("betas")
    symbol: str = ""
    doc: str = ""

    def constraint_text(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.above is not None:
            parts.append(f"> {self.above:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        if self.below is not None:
            parts.append(f"< {self.below:g}")
        return " and ".join(parts) or "any finite number"

    def violates(self, value: float) -> bool:
        return ((self.min is not None and value < self.min)
                or (self.above is not None and value <= self.above)
                or (self.max is not None and value > self.max)
                or (self.below is not None and value >= self.below))


class Flag(NamedTuple):
    """A compile-time variant switch; ``derived`` flags are computed from hypers."""
    name: str
    default: bool = False
    derived: Node | None = None
    derived_text: str = ""
    doc: str = ""


class StateBuffer(NamedTuple):
    """A per-element buffer, shaped like the parameter."""
    name: str
    init: str = "zeros"          # "zeros", "grad", a hyper name, or a number (as text)
    when: Node | None = None     # flag condition; None = always present
    when_text: str = ""


class ScalarDef(NamedTuple):
    name: str
    expr: Node
    text: str


class Statement(NamedTuple):
    target: str
    expr: Node
    cond: Node | None
    text: str
    line: int | None


class Check(NamedTuple):
    expr: Node
    message: str
    text: str


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str
    doc: str
    path: str
    source: str
    hypers: tuple[Hyper, ...]
    flags: tuple[Flag, ...]
    state: tuple[StateBuffer, ...]
    scalars: tuple[ScalarDef, ...]
    statements: tuple[Statement, ...]
    checks: tuple[Check, ...] = ()
    references: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def hyper_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hypers)

    @property
    def flag_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.flags)

    @property
    def user_flags(self) -> tuple[Flag, ...]:
        return tuple(f for f in self.flags if f.derived is None)

    @property
    def derived_flags(self) -> tuple[Flag, ...]:
        return tuple(f for f in self.flags if f.derived is not None)

    @property
    def scalar_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.scalars)

    def hyper(self, name: str) -> Hyper:
        return next(h for h in self.hypers if h.name == name)

    def tuples(self) -> dict[str, tuple[str, ...]]:
        """torch tuple arguments: ``{"betas": ("beta1", "beta2")}``."""
        out: dict[str, list[str]] = {}
        for h in self.hypers:
            if h.tuple:
                out.setdefault(h.tuple, []).append(h.name)
        return {k: tuple(v) for k, v in out.items()}


def standard_spec_dir() -> Path:
    """The standard specs: ``specs/`` of the source tree, or the copy a wheel
    installs as ``odyssey_codegen/specs``."""
    installed = Path(__file__).resolve().parent / "specs"
    return installed if installed.is_dir() else Path(__file__).resolve().parent.parent / "specs"


def load_spec_file(path: str | Path) -> Spec:
    """Read and validate a spec file."""
    return load_spec_text(read_source(path), str(path))


def load_spec_text(text: str, path: str = "<spec>") -> Spec:
    """Validate spec source ``text``; ``path`` is only used in messages."""
    return _SpecReader(path, text).read(parse_toml(text, path))


class _SpecReader(SourceReader):
    def expr(self, text: Any, what: str, allowed: set[str]) -> Node:
        if not isinstance(text, str):
            raise self.error(f"{what} must be a string expression", repr(text), "a string")
        try:
            node = parse_expr(text)
        except ExprError as exc:
            raise self.error(f"{what}: {exc}", exc.text, "the spec expression language",
                             locate=text) from None
        unknown = sorted(names_in(node) - allowed)
        if unknown:
            raise self.error(f"{what}: unknown name {unknown[0]!r}", text,
                             "one of " + ", ".join(sorted(allowed)))
        return node

    def read(self, data: dict[str, Any]) -> Spec:
        known = {"name", "kind", "doc", "references", "hyper", "flags", "state", "scalars",
                 "update", "checks"}
        kind = data.get("kind", "optimizer")
        if kind == "metric":
            raise self.error("a metric spec, not an optimizer spec (metric specs are read by "
                             "codegen.metric_spec and `odyssey-codegen metrics ...`)", str(kind),
                             "kind = \"optimizer\"", locate="kind")
        if kind != "optimizer":
            raise self.error("unsupported kind", str(kind), "\"optimizer\"", locate="kind")
        for key in data:
            if key not in known:
                raise self.error("unknown top-level key", key, ", ".join(sorted(known)))
        name = data.get("name")
        if not isinstance(name, str) or not _IDENT.match(name) or keyword.iskeyword(name):
            raise self.error("'name' must be an identifier", str(name), "e.g. name = \"Adam\"",
                             locate="name")
        doc = data.get("doc", "")
        refs = data.get("references", [])
        if not isinstance(doc, str) or not isinstance(refs, list):
            raise self.error("'doc' must be a string and 'references' a list", locate="doc")
        for key, limit, limit_name in _COUNTED:
            self.count(key, data.get(key), limit, limit_name)
        hypers = self.hypers(data.get("hyper", {}))
        hyper_names = {h.name for h in hypers} | {a for h in hypers for a in h.aliases}
        flags = self.flags(data.get("flags", {}), {h.name for h in hypers})
        flag_names = {f.name for f in flags}
        self.no_clash(hyper_names, flag_names)
        state = self.state(data.get("state", {}), {h.name for h in hypers}, flag_names,
                           hyper_names | flag_names)
        scalars = self.scalars(data.get("scalars", {}), {h.name for h in hypers} | {STEP},
                               hyper_names | flag_names | {s.name for s in state})
        statements = self.statements(data.get("update", {}), hypers, flags, state, scalars)
        checks = self.checks(data.get("checks", []), {h.name for h in hypers} | flag_names)
        self.expansion(scalars, statements, {h.name for h in hypers} | {STEP} | flag_names,
                       {PARAM, GRAD} | {b.name for b in state})
        return Spec(name=name, kind=kind, doc=doc.strip(), path=self.path, source=self.source,
                    hypers=hypers, flags=flags, state=state, scalars=scalars,
                    statements=statements, checks=checks,
                    references=tuple(str(r) for r in refs))

    def count(self, key: str, table: Any, limit: int, limit_name: str) -> None:
        """No table or list over its limit (checked before any entry is read)."""
        if key == "update":
            table = table.get("statements") if isinstance(table, dict) else None
            key = "[update] statements"
        if isinstance(table, (dict, list)):
            problem = check_count(key, len(table), limit, limit_name)
            if problem:
                raise self.error(problem, locate=key.split()[-1] if " " in key else key)

    def expansion(self, scalars: tuple[ScalarDef, ...], statements: tuple[Statement, ...],
                  uniform: set[str], kept: set[str]) -> None:
        """Every expression stays within MAX_EXPANDED_DEPTH / _NODES once the scalars
        and uniform locals it reads are substituted (what the compiler builds; a
        statement whose condition may be false is counted as present)."""
        known: dict[str, tuple[int, int]] = {}
        items = [(s.name, s.expr, s.text, True) for s in scalars]
        items += [(st.target, st.expr, st.text, False) for st in statements]
        for target, node, text, is_scalar in items:
            depth, nodes = expanded_size(node, known)
            if depth > MAX_EXPANDED_DEPTH or nodes > MAX_EXPANDED_NODES:
                raise self.error(
                    f"with the scalars and locals it reads substituted, this expression is "
                    f"{depth} deep with {nodes} nodes; the limits are {MAX_EXPANDED_DEPTH} "
                    f"(MAX_EXPANDED_DEPTH) and {MAX_EXPANDED_NODES} (MAX_EXPANDED_NODES)", text)
            if is_scalar or (target not in kept and names_in(node) <= uniform):
                known[target], uniform = (depth, nodes), uniform | {target}
            else:
                known.pop(target, None)
                uniform = uniform - {target}

    def no_clash(self, a: set[str], b: set[str]) -> None:
        clash = sorted(a & b)
        if clash:
            raise self.error("name declared twice", clash[0], "unique names")

    def ident(self, name: str, what: str) -> None:
        if not _IDENT.match(name) or keyword.iskeyword(name):
            raise self.error(f"{what} name is not an identifier", name,
                             "letters, digits, _ and not a Python keyword")
        if name in RESERVED:
            raise self.error(f"{what} name is reserved", name,
                             "a name other than " + ", ".join(sorted(RESERVED)))

    def hypers(self, table: Any) -> tuple[Hyper, ...]:
        if not isinstance(table, dict):
            raise self.error("[hyper] must be a table", locate="[hyper]")
        out = []
        keys = {"default", "min", "max", "below", "above", "aliases", "tuple", "symbol", "doc"}
        for name, entry in table.items():
            self.ident(name, "hyperparameter")
            if isinstance(entry, (int, float)) and not isinstance(entry, bool):
                entry = {"default": entry}
            if not isinstance(entry, dict) or "default" not in entry:
                raise self.error("hyperparameter needs a default", name,
                                 "name = { default = NUMBER, ... }", locate=f"{name} ")
            for key in entry:
                if key not in keys:
                    raise self.error(f"unknown key in hyperparameter {name!r}", key,
                                     ", ".join(sorted(keys)), locate=f"{name} ")
            bounds = {}
            for key in ("default", "min", "max", "below", "above"):
                value = entry.get(key)
                if value is not None and (isinstance(value, bool)
                                          or not isinstance(value, (int, float))):
                    raise self.error(f"{name}.{key} must be a number", repr(value), "a number",
                                     locate=f"{name} ")
                if value is not None and check_magnitude(float(value)):
                    raise self.error(f"{name}.{key}: {check_magnitude(float(value))}",
                                     repr(value), "a finite number", locate=f"{name} ")
                bounds[key] = None if value is None else float(value)
            aliases = entry.get("aliases", [])
            if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
                raise self.error(f"{name}.aliases must be a list of names", repr(aliases),
                                 locate=f"{name} ")
            for alias in aliases:
                self.ident(alias, "alias")
            if entry.get("tuple") is not None:
                if not isinstance(entry["tuple"], str):
                    raise self.error(f"{name}.tuple must be a name", repr(entry["tuple"]),
                                     "e.g. tuple = \"betas\"", locate=f"{name} ")
                self.ident(entry["tuple"], "tuple argument")
            hyper = Hyper(name=name, default=bounds["default"], min=bounds["min"],
                          max=bounds["max"], below=bounds["below"], above=bounds["above"],
                          aliases=tuple(aliases), tuple=entry.get("tuple"),
                          symbol=str(entry.get("symbol", "")), doc=str(entry.get("doc", "")))
            if hyper.violates(hyper.default):
                raise self.error(f"default of {name!r} violates its own constraint",
                                 repr(hyper.default), hyper.constraint_text(), locate=f"{name} ")
            out.append(hyper)
        names = [h.name for h in out] + [a for h in out for a in h.aliases]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise self.error("hyperparameter name or alias used twice", dupes[0])
        return tuple(out)

    def flags(self, table: Any, hyper_names: set[str]) -> tuple[Flag, ...]:
        if not isinstance(table, dict):
            raise self.error("[flags] must be a table", locate="[flags]")
        out = []
        for name, entry in table.items():
            self.ident(name, "flag")
            if isinstance(entry, bool):
                out.append(Flag(name, entry))
                continue
            if isinstance(entry, dict) and isinstance(entry.get("default"), bool) \
                    and set(entry) <= {"default", "doc"}:
                out.append(Flag(name, entry["default"], doc=str(entry.get("doc", ""))))
                continue
            if isinstance(entry, dict) and "when" in entry and set(entry) <= {"when", "doc"}:
                node = self.expr(entry["when"], f"derived flag {name!r}", hyper_names)
                out.append(Flag(name, False, node, entry["when"], str(entry.get("doc", ""))))
                continue
            raise self.error(f"flag {name!r} must be true/false or {{ when = \"...\" }}",
                             repr(entry), "a boolean default or a derived condition",
                             locate=f"{name} ")
        return tuple(out)

    def state(self, table: Any, hyper_names: set[str], flag_names: set[str],
              taken: set[str]) -> tuple[StateBuffer, ...]:
        if not isinstance(table, dict):
            raise self.error("[state] must be a table", locate="[state]")
        out = []
        for name, entry in table.items():
            self.ident(name, "state buffer")
            if name in taken:
                raise self.error("state buffer name already used", name, "a unique name")
            if not isinstance(entry, dict):
                entry = {"init": entry}
            if not set(entry) <= {"init", "when"}:
                raise self.error(f"unknown key in state buffer {name!r}",
                                 ", ".join(sorted(set(entry) - {"init", "when"})),
                                 "init, when", locate=f"{name} ")
            init = entry.get("init", "zeros")
            if isinstance(init, (int, float)) and not isinstance(init, bool):
                if check_magnitude(float(init)):
                    raise self.error(f"init of {name!r}: {check_magnitude(float(init))}",
                                     repr(init), "a finite number", locate=f"{name} ")
                init = repr(float(init))
            elif not isinstance(init, str) or (init not in _STATE_INITS
                                               and init not in hyper_names):
                raise self.error(f"bad init for state buffer {name!r}", repr(init),
                                 "\"zeros\", \"grad\", a number or a hyperparameter name",
                                 locate=f"{name} ")
            when, when_text = None, ""
            if "when" in entry:
                when_text = entry["when"]
                when = self.expr(when_text, f"state buffer {name!r} condition", flag_names)
            out.append(StateBuffer(name, init, when, when_text))
        return tuple(out)

    def scalars(self, table: Any, allowed: set[str], taken: set[str]) -> tuple[ScalarDef, ...]:
        if not isinstance(table, dict):
            raise self.error("[scalars] must be a table", locate="[scalars]")
        out = []
        allowed = set(allowed)
        for name, text in table.items():
            self.ident(name, "scalar")
            if name in taken:
                raise self.error("scalar name already used", name, "a unique name")
            out.append(ScalarDef(name, self.expr(text, f"scalar {name!r}", allowed), text))
            allowed.add(name)
        return tuple(out)

    def statements(self, table: Any, hypers, flags, state, scalars) -> tuple[Statement, ...]:
        lines = table.get("statements") if isinstance(table, dict) else None
        if not isinstance(lines, list) or not lines or not all(isinstance(s, str) for s in lines):
            raise self.error("[update] needs a non-empty list of statements",
                             expected="statements = [\"p = p - lr * g\", ...]",
                             locate="[update]")
        flag_names = {f.name for f in flags}
        fixed = ({h.name for h in hypers} | {s.name for s in scalars} | {STEP})
        readable = fixed | flag_names | {s.name for s in state} | {PARAM, GRAD}
        locals_: set[str] = set()
        out = []
        for text in lines:
            match = _ASSIGN.match(text)
            if not match:
                raise self.error("statement is not an assignment", text, "NAME = EXPRESSION")
            target, rest = match.group(1), match.group(2)
            if target in fixed or target in flag_names:
                raise self.error(f"cannot assign to {target!r}", text,
                                 "p, a state buffer or a local name")
            if target in RESERVED and target not in (PARAM, GRAD):
                raise self.error(f"cannot assign to reserved name {target!r}", text)
            expr_text, cond_text = rest, None
            try:
                parse_expr(rest)
            except ExprError:
                if " if " in rest:
                    expr_text, cond_text = rest.rsplit(" if ", 1)
            node = self.expr(expr_text, "statement", readable | locals_)
            cond = None
            if cond_text is not None:
                cond = self.expr(cond_text, "statement condition", flag_names)
            out.append(Statement(target, node, cond, text.strip(), self.line_of(text)))
            if target not in readable:
                locals_.add(target)
        if not any(s.target == PARAM for s in out):
            raise self.error("the update never assigns the parameter", locate="[update]",
                             expected="a statement 'p = ...'")
        return tuple(out)

    def checks(self, entries: Any, allowed: set[str]) -> tuple[Check, ...]:
        if not isinstance(entries, list):
            raise self.error("[[checks]] must be an array of tables", locate="checks")
        out = []
        for entry in entries:
            if not isinstance(entry, dict) or set(entry) != {"expr", "message"}:
                raise self.error("a check needs 'expr' and 'message'", repr(entry),
                                 "{ expr = \"...\", message = \"...\" }", locate="[[checks]]")
            out.append(Check(self.expr(entry["expr"], "check", allowed), str(entry["message"]),
                             entry["expr"]))
        return tuple(out)
