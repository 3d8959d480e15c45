"""bench.loop runs end to end on a short job: its accounting adds up (no timing
assertions: the bench reports numbers, the test keeps its code from rotting)."""

from __future__ import annotations

from bench import loop


def test_loop_bench_accounts_for_every_epoch_and_the_bare_floor(tmp_path):
    rows, opt_s, metric_s, steps, bare = loop.run_once(3)
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    for row in rows[1:]:
        assert row["batches"] == steps and row["optimizer_kernel"] > 0
        assert 0 < row["val_forward"] < row["validation"] < row["epoch_wall"]
        assert "ModelCheckpoint" in row["epoch_end"] and "CSVLogger" in row["epoch_end"]
        assert row["total"] + row["validation"] + sum(row["epoch_end"].values()) <= row["epoch_wall"]
    assert 0 < bare["optimizer_kernel"] < bare["optimizer"] < bare["total"]
    result = loop.summarize(rows, opt_s, metric_s, steps, bare)
    assert 0 < result["overhead_share_of_batches"] < 1
    assert 0 < result["bare_overhead_share_of_batches"] < 1
    assert result["overhead_share_of_batches"] < result["overhead_share_of_epoch"] < 1
    text = loop.markdown([("short job", result)], {"cpu_model": "cpu", "llvm_cpu": "x"},
                         "python -m bench.loop", "0 0 0")
    assert text.startswith(loop.BEGIN) and text.endswith(loop.END)
    assert "(of which the optimizer kernel)" in text
