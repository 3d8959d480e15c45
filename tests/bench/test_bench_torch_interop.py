"""The torch interop benchmark's code runs end to end on few rounds and writes its
report section (no timing assertions: the bench reports numbers)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from bench import report, torch_interop, torch_steps  # noqa: E402


def test_a_few_rounds_of_each_case_produce_the_report(tmp_path):
    import torch
    threads = torch.get_num_threads()
    rng = np.random.default_rng(0)
    lenet = torch_interop._inputs("lenet", seed=0)
    tiny_gpt = {"grads": [torch.randn(8, 8) * 1e-3, torch.randn(70_000) * 1e-3]}
    cases = [torch_interop.run_case(kind, "adamw", 1, inputs, (2, 2, 0.0), rng)
             for kind, inputs in (("gpt2", tiny_gpt), ("lenet", lenet), ("lenet_sched", lenet),
                                  ("lenet_groups", lenet), ("lenet_e2e", lenet))]
    torch.set_num_threads(threads)
    for case in cases:
        assert set(case["median_s"]) >= {"ours", "torch_fused", "torch_forloop", "torch_foreach"}
        assert all(v > 0 for v in case["speedup_vs"].values())
    assert "roofline" in cases[0]["median_s"]
    results = {"command": "test", "git": None, "date": "now", "torch": torch.__version__,
               "machine": torch_interop._machine(), "omp_wait_policy": "PASSIVE",
               "cases": cases, "targets": torch_interop._targets(cases)}
    assert [t["target"].split(",")[0] for t in results["targets"]] == [
        "adamw gpt2 step", "adamw lenet step"]
    md = tmp_path / "RESULTS.md"
    md.write_text("# Benchmark results\n\n<!-- optim:begin -->\nkept\n<!-- optim:end -->\n")
    block = torch_interop.markdown(results)
    report.write_results(results, tmp_path / "r.json", block, md, torch_interop.BEGIN,
                         torch_interop.END)
    text = md.read_text()
    assert "kept" in text and text.count("<!-- torch:begin -->") == 1
    report.write_results(results, tmp_path / "r.json", block, md, torch_interop.BEGIN,
                         torch_interop.END)     # replaced, once
    assert md.read_text() == text
    scheduled = torch_steps.build("lenet_sched", "ours", "sgd_momentum", 1, **lenet)
    opt = scheduled.keep[1]
    lrs = []
    for _ in range(3):
        scheduled.prepare()
        lrs.append(opt.param_groups[0]["lr"])
        scheduled.step()
    assert lrs[0] > lrs[1] > lrs[2]                     # a new lr before every step
    grouped = torch_steps.build("lenet_groups", "ours", "adamw", 1, **lenet).keep[1]
    decay, rest = grouped.param_groups
    assert (decay["weight_decay"], rest["weight_decay"]) == (0.01, 0.0)
    assert {p.dim() for p in rest["params"]} == {1} and len(decay["params"]) == 5
    batches = torch_steps.digits_batches()
    assert len(batches) > 10 and all(x.shape == (torch_steps.BATCH, 1, 32, 32) and
                                     y.shape == (torch_steps.BATCH,) for x, y in batches)
