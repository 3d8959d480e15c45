"""The benchmark code runs end to end on tiny shapes (no timing assertions:
the bench reports numbers, the tests only keep its code from rotting)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import odyssey_training as ot
from bench import contenders, optim, report, startup
from bench.roofline import roofline_class
from bench.shapes import MODELS, numel
from odyssey_training.optimizers import SGD, Adam, AdamW, Adagrad, RMSprop


def test_shape_totals():
    assert (len(MODELS["gpt2"]()), numel(MODELS["gpt2"]())) == (148, 124_439_808)
    assert (len(MODELS["resnet50"]()), numel(MODELS["resnet50"]())) == (161, 25_557_032)
    assert (len(MODELS["lenet"]()), numel(MODELS["lenet"]())) == (10, 61_706)


@pytest.mark.parametrize("cls, kwargs", [(SGD, {"momentum": 0.9}), (Adam, {}), (AdamW, {}),
                                         (RMSprop, {}), (Adagrad, {})])
def test_roofline_moves_the_same_arrays_and_changes_nothing(cls, kwargs):
    rng = np.random.default_rng(0)
    data = rng.standard_normal(1000).astype(np.float32)
    grad = rng.standard_normal(1000).astype(np.float32)
    real, roof = ot.Parameter(data.copy(), grad), ot.Parameter(data.copy(), grad)
    opt, ref = roofline_class(cls)([roof], **kwargs), cls([real], **kwargs)
    for _ in range(2):
        opt.step()
        ref.step()
    assert np.array_equal(roof.data, data)
    assert set(opt.state[roof]) == set(ref.state[real])


def test_plan_groups_keeps_ours_everywhere_and_the_clip_pair_together():
    names = ["ours", "roofline", "numpy", "torch_fused", "ours_clip", "torch_clip_fused"]
    groups = optim.plan_groups(names, "adamw", 1000, 4, budget_bytes=4 * 1000 * 4 * 2.5)
    assert all(g[0] == "ours" for g in groups) and "roofline" in groups[0]
    assert any({"ours_clip", "torch_clip_fused"} <= set(g) for g in groups)
    assert sorted(n for g in groups for n in g if n != "ours") == sorted(names[1:])
    assert all("numpy" not in g or "roofline" not in g for g in groups)  # slow peers apart


def test_quick_cases_on_tiny_shapes_produce_the_report(tmp_path):
    settings = optim.Settings(shapes=["tiny"], dtypes=["float32"], threads=[1],
                              optimizers=list(contenders.OPTIMIZERS), quick=True,
                              startup=False)
    results = optim.run_all(settings, log=lambda line: None, command="test")
    assert len(results["cases"]) == len(contenders.OPTIMIZERS)
    for case in results["cases"]:
        assert {"ours", "roofline", "numpy"} <= set(case["median_s"])
        assert case["roofline_fraction"] > 0 and case["traffic_bytes"] > 0
        assert not {k: v for k, v in case["errors"].items() if "torch" not in k}
    adamw = next(c for c in results["cases"] if c["optimizer"] == "adamw")
    assert "ours_clip" in adamw["median_s"]
    if contenders.has_torch():
        assert "torch_fused" in adamw["median_s"] and "clip_speedup" in adamw
    statuses = {t["status"] for t in results["targets"]}
    assert statuses <= {"PASS", "MISS", "n/a"}
    md_path, json_path = tmp_path / "RESULTS.md", tmp_path / "optim.json"
    md_path.write_text("# Results\n\nkeep me\n")
    block = report.markdown(results)
    report.write(results, block, json_path, md_path)
    report.write(results, block, json_path, md_path)   # replaces, never duplicates
    text = md_path.read_text()
    assert "keep me" in text and text.count(report.BEGIN) == 1 and "tiny" in text
    loaded = json.loads(json_path.read_text())
    assert {"command", "date", "machine", "cases", "targets"} <= set(loaded)


def test_startup_measurements_run(tmp_path):
    cold = startup.cold_compile(("SGD",), sumsq=False)
    assert cold["compiled"] >= 1 and cold["compile_s"] > 0
    warm = startup.warm_start(repeats=1)
    assert warm["compiled"] == 0 and warm["import_and_first_step_s"] > 0
