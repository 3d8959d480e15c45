"""Metric specs: a ``kind = "metric"`` TOML file -> a frozen :class:`MetricSpec`.

A metric spec names one *reduction kernel*: how each row of a batch becomes a
prediction (the **predictor**) and what the kernel counts (the **sink**).  The
per-batch work of every classification metric is one such kernel: one pass over
the predictions, no temporaries, integer counts out.

.. code-block:: toml

    # specs/metrics/argmax_confusion.toml
    name = "argmax_confusion"
    kind = "metric"
    doc = "counts[t_i, argmax_j x_ij] += 1 over the rows of a batch"

    [reduce]
    predict = "argmax"               # how a row becomes a prediction
    count = "confusion"              # what is counted
    ties = "first"                   # tie-breaking (argmax: first; topk: first | last)
    preds = ["float32", "float64"]   # kernel variants: dtype of the predictions
    targets = ["int32", "int64"]     # ... and of the target labels

Predictors (``x`` the ``(N, C)`` scores, ``s`` the ``(N,)`` scores or labels,
``t`` the ``(N,)`` target labels, ``τ`` the threshold, ``k`` the top-k size):

* ``argmax``:    :math:`\\hat y_i = \\min\\{j : x_{ij} = \\max_l x_{il}\\}` (the first
  maximum, as ``numpy.argmax``/``torch.argmax``); a NaN counts as the largest value,
  so a row with NaNs predicts its first NaN.  Preds: float ``(N, C)``.
* ``topk``:      hit :math:`h_i = [r_i < k]` with the rank of the target's score
  :math:`r_i = \\#\\{j : x_{ij} > x_{it_i}\\} + \\#\\{j : x_{ij} = x_{it_i},\\ j \\succ t_i\\}`
  where ``ties = "last"`` means :math:`j \\succ t \\Leftrightarrow j > t` (equal scores
  rank the higher class first, as ``sklearn.metrics.top_k_accuracy_score``) and
  ``ties = "first"`` means :math:`j < t` (as ``argmax``).  NaN is the largest value
  and equal to itself.  Preds: float ``(N, C)``.  Only with ``count = "hits"``.
* ``labels``:    :math:`\\hat y_i = s_i`; a label outside ``[0, C)`` is a bad row.
  Preds: int ``(N,)``.
* ``threshold``: :math:`\\hat y_i = [s_i > τ]` (``τ`` rounded to the preds dtype,
  as NumPy/torch compare); a NaN score counts as the largest value, so it predicts 1.
  Preds: float ``(N,)``; ``C = 2``.

Sinks:

* ``confusion``: ``counts[t_i * C + ŷ_i] += δ`` into an int64 ``(C, C)`` matrix
  (rows = targets, columns = predictions), ``δ = ±1`` (``-1`` undoes a call exactly);
* ``hits``:      ``hits += [ŷ_i = t_i]`` (``topk``: ``hits += h_i``).

Every kernel also counts *bad rows* (a target, or a label prediction, outside
``[0, C)``; such rows are skipped), *NaN rows* (rows whose scores contain a
NaN), so the runtime can reject a batch and take back its counts, and *hits*
(the ``confusion`` sink too: the growth of the matrix's trace).  The ABI is
documented in :mod:`odyssey_codegen.lower_metric`.

Every error is a :class:`odyssey_codegen.spec.SpecError` naming the file, the line, the
offending text and what was expected, including a file over the limits of
:mod:`odyssey_codegen.limits` (size, encoding, TOML nesting, number length).
Nothing in a spec is evaluated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .limits import MAX_ENTRIES, check_count
from .source import SourceReader, parse_toml, read_source

__all__ = ["MetricSpec", "load_metric_spec_file", "load_metric_spec_text", "PREDICTORS",
           "SINKS", "FLOAT_DTYPES", "INT_DTYPES"]

FLOAT_DTYPES = ("float32", "float64")
INT_DTYPES = ("int32", "int64")
#: predictor -> (preds dtypes it accepts, preds rank, tie rules (first = default))
PREDICTORS: dict[str, tuple[tuple[str, ...], int, tuple[str, ...]]] = {
    "argmax": (FLOAT_DTYPES, 2, ("first",)),
    "topk": (FLOAT_DTYPES, 2, ("last", "first")),
    "labels": (INT_DTYPES, 1, ()),
    "threshold": (FLOAT_DTYPES, 1, ()),
}
SINKS = ("confusion", "hits")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOP_KEYS = ("name", "kind", "doc", "references", "reduce")
_REDUCE_KEYS = ("predict", "count", "ties", "preds", "targets")


@dataclass(frozen=True)
class MetricSpec:
    """A validated metric-kernel spec (see the module docstring for the fields)."""
    name: str
    doc: str
    path: str
    source: str
    predict: str                  # a key of PREDICTORS
    count: str                    # one of SINKS
    ties: str                     # "first", "last" or "" (no ties to break)
    preds: tuple[str, ...]        # preds dtypes a kernel exists for
    targets: tuple[str, ...]      # target dtypes a kernel exists for
    references: tuple[str, ...] = ()
    kind: str = "metric"

    @property
    def preds_rank(self) -> int:
        """2 for ``(N, C)`` scores, 1 for ``(N,)`` labels or scores."""
        return PREDICTORS[self.predict][1]

    def text(self) -> str:
        """Canonical description (part of the cache key)."""
        return (f"metric {self.name} predict={self.predict} count={self.count} "
                f"ties={self.ties or '-'}")


def load_metric_spec_file(path: str | Path) -> MetricSpec:
    """Read and validate a metric spec file."""
    return load_metric_spec_text(read_source(path), str(path))


def load_metric_spec_text(text: str, path: str = "<spec>") -> MetricSpec:
    """Validate metric spec source ``text``; ``path`` is only used in messages."""
    return _Reader(path, text).read(parse_toml(text, path))


class _Reader(SourceReader):

    def read(self, data: dict[str, Any]) -> MetricSpec:
        for key in data:
            if key not in _TOP_KEYS:
                raise self.error("unknown top-level key", key, ", ".join(_TOP_KEYS))
        name = data.get("name")
        if not isinstance(name, str) or not _IDENT.match(name):
            raise self.error("'name' must be an identifier", str(name),
                             "e.g. name = \"argmax_confusion\"", locate="name")
        kind = data.get("kind")
        if kind != "metric":
            raise self.error("a metric spec needs kind = \"metric\"", str(kind),
                             "\"metric\"", locate="kind")
        doc, refs = data.get("doc", ""), data.get("references", [])
        if not isinstance(doc, str):
            raise self.error("'doc' must be a string", repr(doc), "a string", locate="doc")
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise self.error("'references' must be a list of strings", repr(refs),
                             "[\"...\", ...]", locate="references")
        if check_count("references", len(refs), MAX_ENTRIES, "MAX_ENTRIES"):
            raise self.error(check_count("references", len(refs), MAX_ENTRIES, "MAX_ENTRIES"),
                             locate="references")
        reduce = data.get("reduce")
        if not isinstance(reduce, dict):
            raise self.error("a metric spec needs a [reduce] table", repr(reduce),
                             "[reduce] with predict, count, preds, targets", locate="[reduce]")
        for key in reduce:
            if key not in _REDUCE_KEYS:
                raise self.error("unknown key in [reduce]", key, ", ".join(_REDUCE_KEYS))
        predict = self.choice(reduce, "predict", tuple(PREDICTORS))
        count = self.choice(reduce, "count", SINKS)
        if predict == "topk" and count != "hits":
            raise self.error("predict = \"topk\" yields a hit, not a class",
                             f"count = \"{count}\"", "count = \"hits\"", locate="count")
        dtypes, _, ties_allowed = PREDICTORS[predict]
        ties = reduce.get("ties", ties_allowed[0] if ties_allowed else "")
        if not ties_allowed and "ties" in reduce:
            raise self.error(f"predict = \"{predict}\" has no ties to break", repr(ties),
                             "no 'ties' key", locate="ties")
        if ties_allowed and ties not in ties_allowed:
            raise self.error(f"bad tie rule for predict = \"{predict}\"", repr(ties),
                             " or ".join(f'"{t}"' for t in ties_allowed), locate="ties")
        preds = self.dtypes(reduce, "preds", dtypes)
        targets = self.dtypes(reduce, "targets", INT_DTYPES)
        return MetricSpec(name=name, doc=doc.strip(), path=self.path, source=self.source,
                          predict=predict, count=count, ties=ties, preds=preds,
                          targets=targets, references=tuple(refs))

    def choice(self, table: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
        value = table.get(key)
        if value not in allowed:
            raise self.error(f"[reduce].{key} is missing or unknown", repr(value),
                             " | ".join(f'"{a}"' for a in allowed), locate=f"{key} ")
        return value

    def dtypes(self, table: dict[str, Any], key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
        value = table.get(key)
        if (not isinstance(value, list) or not value
                or not all(isinstance(v, str) for v in value)):
            raise self.error(f"[reduce].{key} must be a non-empty list of dtype names",
                             repr(value), f"a subset of {list(allowed)}", locate=f"{key} ")
        for v in value:
            if v not in allowed:
                raise self.error(f"[reduce].{key}: dtype not supported by this predictor",
                                 v, " or ".join(allowed), locate=f"{key} ")
        if len(set(value)) != len(value):
            raise self.error(f"[reduce].{key} lists a dtype twice", repr(value),
                             "unique names", locate=f"{key} ")
        return tuple(value)
