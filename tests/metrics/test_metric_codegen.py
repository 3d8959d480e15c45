"""Metric specs and their lowering: strict validation with file/line/text, verified
LLVM IR without fast-math, a kernel per dtype combination, the CLI verbs."""

from __future__ import annotations

import re

import llvmlite.binding as llvm
import pytest

from odyssey_codegen import cli
from odyssey_codegen.metrics.lower import lower_metric
from odyssey_codegen.metrics.api import (compile_metric, load_metric_spec_text, metric_llvm_ir,
                                standard_metric_spec, standard_metric_specs)
from odyssey_codegen.spec import SpecError
from odyssey_codegen.target import _init_llvm

GOOD = """name = "mine"
kind = "metric"
doc = "a test spec"

[reduce]
predict = "argmax"
count = "confusion"
preds = ["float32"]
targets = ["int64"]
"""


def test_standard_specs_load():
    names = {p.stem for p in standard_metric_specs()}
    assert names == {"argmax_confusion", "argmax_hits", "topk_hits", "labels_confusion",
                     "labels_hits", "threshold_confusion", "threshold_hits"}
    for name in names:
        spec = standard_metric_spec(name)
        assert spec.name == name and spec.kind == "metric" and spec.doc
    assert standard_metric_spec("topk_hits").ties == "last"


@pytest.mark.parametrize("edit, line, match", [
    (("kind = \"metric\"", "kind = \"optimizer\""), 2, "needs kind = \"metric\""),
    (("doc =", "colour = 1\ndoc ="), 3, "unknown top-level key: 'colour'"),
    (("predict = \"argmax\"", "predict = \"sort\""), 6, "predict is missing or unknown"),
    (("count = \"confusion\"", "count = \"histogram\""), 7, "count is missing or unknown"),
    (("predict = \"argmax\"", "predict = \"topk\""), 7, "yields a hit, not a class"),
    (("count = \"confusion\"", "count = \"confusion\"\nties = \"last\""), 8,
     "bad tie rule for predict = \"argmax\""),
    (("preds = [\"float32\"]", "preds = [\"int8\"]"), 8, "dtype not supported"),
    (("preds = [\"float32\"]", "preds = [\"float32\", \"float32\"]"), 8, "lists a dtype twice"),
    (("targets = [\"int64\"]", "targets = \"int64\""), 9, "non-empty list of dtype names"),
    (("targets = [\"int64\"]", "targets = [\"int64\"]\nbins = 3"), 10,
     "unknown key in \\[reduce\\]: 'bins'"),
    (("name = \"mine\"", "name = \"my metric\""), 1, "'name' must be an identifier"),
    (("[reduce]", "[reduce\n"), 5, "invalid TOML"),
])
def test_spec_errors_name_file_line_and_text(edit, line, match):
    text = GOOD.replace(*edit)
    with pytest.raises(SpecError, match=match) as info:
        load_metric_spec_text(text, "specs/metrics/mine.toml")
    assert info.value.path == "specs/metrics/mine.toml"
    assert info.value.line == line
    assert str(info.value).startswith(f"specs/metrics/mine.toml:{line}: ")


def test_labels_predictor_has_no_ties_and_int_preds():
    text = GOOD.replace("\"argmax\"", "\"labels\"").replace("[\"float32\"]", "[\"int32\"]")
    assert load_metric_spec_text(text).preds == ("int32",)
    with pytest.raises(SpecError, match="no ties to break"):
        load_metric_spec_text(text.replace("count = \"confusion\"",
                                           "count = \"confusion\"\nties = \"first\""))


@pytest.mark.parametrize("name", [p.stem for p in standard_metric_specs()])
@pytest.mark.parametrize("classes", [0, 10])
def test_every_variant_lowers_to_verified_ir_without_fast_math(name, classes):
    _init_llvm()
    spec = standard_metric_spec(name)
    for preds in spec.preds:
        for targets in spec.targets:
            width = 8 if spec.preds_rank == 2 else 1
            text = lower_metric(spec, preds, targets, width, "k", classes)
            llvm.parse_assembly(text).verify()
            assert not re.search(r"\b(fast|afn|arcp|reassoc|nnan|ninf|nsz)\b", text)
            optimized = metric_llvm_ir(spec, preds, targets, classes=classes)
            assert not re.search(r"\b(fast|afn|arcp|reassoc)\b", optimized)
            if spec.count == "confusion":
                assert "atomicrmw add" in text
            if spec.preds_rank == 2:
                assert "llvm.masked.load" in text


def test_lowering_rejects_what_the_spec_does_not_list():
    spec = load_metric_spec_text(GOOD)
    with pytest.raises(ValueError, match="no kernel for preds=float64"):
        lower_metric(spec, "float64", "int64", 8, "k")
    with pytest.raises(ValueError, match="power of two"):
        lower_metric(spec, "float32", "int64", 6, "k")
    with pytest.raises(ValueError, match="classes must be >= 0"):
        compile_metric(spec, "float32", "int64", classes=-1)


def test_kernels_are_memoized_and_named_by_variant():
    spec = standard_metric_spec("argmax_hits")
    a = compile_metric(spec, "float64", "int32", classes=7)
    assert compile_metric(spec, "float64", "int32", classes=7) is a
    assert "_c7_" in a.symbol and a.classes == 7 and a.width >= 1
    b = compile_metric(spec, "float64", "int32")
    assert b.address != a.address and "_c" not in b.symbol.split("_w")[1][:4]


def test_cli_verbs(capsys):
    assert cli.main(["metrics", "list"]) == 0
    assert "topk_hits" in capsys.readouterr().out
    assert cli.main(["metrics", "kernels", "labels_hits"]) == 0
    assert "4 metric kernels" in capsys.readouterr().out
    assert cli.main(["metrics", "show", "argmax_hits", "--classes", "3", "--raw"]) == 0
    assert "define void" in capsys.readouterr().out
    assert cli.main(["metrics", "show", "no_such"]) == 2
    assert "no such metric spec" in capsys.readouterr().err
