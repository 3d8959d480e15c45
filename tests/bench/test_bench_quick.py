"""The benchmark code runs end to end on tiny shapes (no timing assertions:
the bench reports numbers, the tests only keep its code from rotting)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import odyssey_training as ot
from bench import contenders, limit, optim, report, startup, variants
from bench.machine import machine_key
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
                              startup=False, limit=False)
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
    begin, end = report.markers(machine_key(results["machine"]))
    assert "keep me" in text and text.count(begin) == 1 and text.count(end) == 1
    assert "tiny" in text and results["machine"]["llvm_cpu"] in text and "features:" in text
    loaded = json.loads(json_path.read_text())
    assert {"command", "date", "machine", "cases", "targets"} <= set(loaded)


def test_startup_measurements_run(tmp_path):
    cold = startup.cold_compile(("SGD",), sumsq=False)
    assert cold["compiled"] >= 1 and cold["compile_s"] > 0
    warm = startup.warm_start(repeats=1)
    assert warm["compiled"] == 0 and warm["import_and_first_step_s"] > 0


def test_every_benchmarked_kernel_is_tuned_before_timing(monkeypatch, tmp_path):
    from odyssey_codegen.tune import STATS, search
    monkeypatch.setenv("ODYSSEY_TUNE", "1")
    monkeypatch.setenv("ODYSSEY_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(search, "STREAM_BYTES", 1 << 18)
    monkeypatch.setattr(search, "CACHE_BYTES", 1 << 15)
    monkeypatch.setattr(search, "LIMITS", {"stream": (3, 3, 0.0), "cache": (3, 3, 0.0)})
    before = STATS["tuned"]
    rows = variants.prepare(["adamw"], ["float32"], log=lambda line: None)
    assert set(rows) == {"adamw float32", "adamw float32 same-traffic roofline",
                         "adamw float32 max_grad_norm", "norm pass float32"}
    assert STATS["tuned"] - before == 4 and all(r["measured_now"] for r in rows.values())
    again = variants.prepare(["adamw"], ["float32"], log=lambda line: None)
    assert STATS["tuned"] - before == 4 and not any(r["measured_now"] for r in again.values())
    assert all("-bit x" in r["stream"] and "default shape" in r["why"] for r in rows.values())


def test_the_memory_limit_is_the_best_of_several_streaming_kernels():
    found = limit.measure_limit("sgd_momentum", "float32", 1, optim._time_group,
                                np.random.default_rng(0), elements=4096, seconds=0.0)
    kinds = {k.split()[0] for k in found["candidates"]}
    assert kinds == {"same-traffic", "triad"} and found["gbps"] == max(
        found["candidates"].values()) and found["kernel"] in found["candidates"]
    shapes = " ".join(found["candidates"])
    assert "-nt-" in shapes and "-plain-" in shapes and "p0-" in shapes and "p512-" in shapes
    settings = optim.Settings(shapes=["tiny"], dtypes=["float32"], threads=[1],
                              optimizers=["sgd_momentum"], quick=True, startup=False)
    grads = optim.make_grads("tiny", "float32")
    case = optim.run_case("sgd_momentum", "float32", 1, "tiny", grads, settings,
                          np.random.default_rng(0), found)
    assert "limit" in case["median_s"] and case["limit"]["fraction"] > 0
    assert case["limit"]["bound"] == "caches" and case["limit"]["gbps"] > 0
    assert limit.bound(0.95) == "bandwidth" and limit.bound(0.5) == "arithmetic"
    assert limit.bound(1.3, footprint=1 << 20) == "caches"
