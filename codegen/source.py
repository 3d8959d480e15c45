"""A spec's text: read within the limits, parsed as TOML, errors that point at a line.

Shared by optimizer specs (:mod:`odyssey_codegen.spec`) and metric specs
(:mod:`odyssey_codegen.metric_spec`).  Whatever goes wrong, the caller gets a
:class:`SpecError` naming the file: a file too large (only ``MAX_SPEC_BYTES + 1``
bytes are ever read), bytes that are not UTF-8, TOML nested too deep or holding an
over-long number (both checked before ``tomllib`` runs), or invalid TOML.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from .limits import MAX_SPEC_BYTES, toml_violation

__all__ = ["SpecError", "read_source", "decode_source", "check_text", "parse_toml",
           "SourceReader", "line_at"]

#: longest offending text quoted in full in an error message
_SHOWN_CHARS = 120


class SpecError(ValueError):
    """A spec is malformed.  ``str()`` reads ``file:line: message: 'text' (expected ...)``."""

    def __init__(self, path: str, line: int | None, message: str, text: str = "",
                 expected: str = ""):
        self.path, self.line, self.text, self.expected = path, line, text, expected
        where = f"{path}:{line}" if line else path
        if len(text) > _SHOWN_CHARS:
            text = f"{text[:_SHOWN_CHARS - 20]}... ({len(text)} characters)"
        detail = f": {text!r}" if text else ""
        hint = f" (expected {expected})" if expected else ""
        super().__init__(f"{where}: {message}{detail}{hint}")


def line_at(text: str | bytes, offset: int) -> int:
    """1-based line number of ``offset`` in ``text``."""
    return text.count("\n" if isinstance(text, str) else b"\n", 0, offset) + 1


def read_source(path: str | Path) -> str:
    """A spec file's text (at most MAX_SPEC_BYTES of UTF-8), or a SpecError naming it."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(str(path), None, f"cannot read spec: {exc.strerror or exc}") from None
    return decode_source(data, str(path))


def decode_source(data: bytes, path: str) -> str:
    """``data`` as text, within the size limit and valid UTF-8."""
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(path, line_at(data, MAX_SPEC_BYTES),
                        f"spec file is larger than the limit of {MAX_SPEC_BYTES} bytes "
                        "(MAX_SPEC_BYTES)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(path, line_at(data, exc.start),
                        f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
                        f"({exc.reason})", expected="a UTF-8 encoded TOML file") from None


def check_text(text: str, path: str) -> None:
    """Size, encodability and TOML-level limits of spec source ``text``."""
    if not isinstance(text, str):
        raise SpecError(path, None, f"spec source must be text, got {type(text).__name__}")
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(path, line_at(text, MAX_SPEC_BYTES),
                        f"spec is larger than the limit of {MAX_SPEC_BYTES} bytes "
                        "(MAX_SPEC_BYTES)")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise SpecError(path, line_at(text, exc.start), "spec text holds a lone surrogate "
                        f"at offset {exc.start}", expected="valid Unicode text") from None
    if size > MAX_SPEC_BYTES:
        raise SpecError(path, None, f"spec is {size} bytes of UTF-8; the limit is "
                        f"{MAX_SPEC_BYTES} (MAX_SPEC_BYTES)")
    problem = toml_violation(text)
    if problem is not None:
        raise SpecError(path, line_at(text, problem.offset or 0), str(problem))


def parse_toml(text: str, path: str) -> dict[str, Any]:
    """TOML -> dict (after :func:`check_text`), or a SpecError with the line."""
    check_text(text, path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise SpecError(path, int(match.group(1)) if match else None,
                        f"invalid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:  # not expected within the limits checked above
        raise SpecError(path, None, f"invalid TOML: {type(exc).__name__}: {exc}") from None


class SourceReader:
    """Base of the spec readers: errors that point at the line holding a text."""

    def __init__(self, path: str, source: str):
        self.path, self.source = path, source

    def line_of(self, text: str) -> int | None:
        needle = text.strip()
        for number, line in enumerate(self.source.splitlines(), 1):
            if needle and needle in line:
                return number
        return None

    def error(self, message: str, text: str = "", expected: str = "",
              locate: str = "") -> SpecError:
        return SpecError(self.path, self.line_of(locate or text), message, text, expected)
