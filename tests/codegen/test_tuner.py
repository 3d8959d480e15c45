"""The tuner's bookkeeping, counted (never clocked): wisdom is stored per
target and reused without timing anything, corrupt or foreign wisdom is ignored
and measured again, ODYSSEY_TUNE=0 and explicit settings never time, large
groups tune once in the background, ``odyssey-codegen tune`` prints what it
measured.  Workloads are shrunk to a few KiB: these tests check decisions and
files, not speed (bench/ measures speed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import odyssey_training as ot
from odyssey_codegen import cache, cli
from odyssey_codegen.api import (compile_kernel, compile_sumsq, default_target, kernel_variant,
                                 load_spec_file, load_spec_text, sumsq_job, tune_job_for)
from odyssey_codegen.tune import (AUTO_TUNE_ELEMENTS, STATS, choose, default_for, search, tune,
                                  wait_background, wisdom)
from odyssey_codegen.variant import Variant
from odyssey_training.optimizers import AdamW, Optimizer

LION = load_spec_file("specs/optimizers/lion.toml")


@pytest.fixture
def tuning(monkeypatch, tmp_path):
    """Tuning on, its own cache, tiny workloads and rounds."""
    monkeypatch.setenv("ODYSSEY_TUNE", "1")
    monkeypatch.setenv("ODYSSEY_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(search, "STREAM_BYTES", 1 << 18)
    monkeypatch.setattr(search, "CACHE_BYTES", 1 << 15)
    monkeypatch.setattr(search, "LIMITS", {"stream": (3, 3, 0.0), "cache": (3, 3, 0.0)})
    return tmp_path


def lion_job():
    return tune_job_for(LION, {}, "float32", False, default_target())


def counts() -> dict:
    return dict(STATS)


def delta(before: dict) -> dict:
    return {k: STATS[k] - before[k] for k in STATS}


def test_tuning_is_skipped_when_the_cache_knows_the_answer(tuning):
    before = counts()
    first, measured = tune(lion_job())
    assert measured and delta(before)["tuned"] == 1
    assert set(first.choices) == set(wisdom.CLASSES)
    assert [s["stage"] for s in first.report["stream"]][:3] == ["shape", "unroll", "prefetch"]
    again, measured = tune(lion_job())
    assert not measured and again.choices == first.choices
    assert delta(before)["tuned"] == 1 and delta(before)["loaded"] == 1
    # and the runtime's choice reads the same wisdom, timing nothing
    variant, why = kernel_variant(LION, {}, "float32", elements=10_000_000)
    assert variant == first.choices["stream"] and why.startswith("wisdom (stream class)")
    small, _ = kernel_variant(LION, {}, "float32", elements=1000)
    assert small == first.choices["cache"]
    assert delta(before)["tuned"] == 1 and delta(before)["background"] == 0


def entry(tmp_path):
    paths = list(tmp_path.glob("*.wisdom"))
    assert len(paths) == 1
    return paths[0]


@pytest.mark.parametrize("damage", ["bytes", "json", "foreign cpu", "foreign cores",
                                    "other kernel", "impossible variant", "missing class"])
def test_corrupt_or_foreign_wisdom_is_ignored_and_rebuilt(tuning, damage):
    tune(lion_job())
    path = entry(tuning)
    key = path.stem
    data = json.loads(cache.read(key, ".wisdom"))
    if damage == "bytes":
        blob = bytearray(path.read_bytes())
        blob[-3] ^= 0x55
        path.write_bytes(bytes(blob))
    else:
        if damage == "json":
            payload = b'{"format": "odyssey-wisdom/1", "choices": '
        else:
            if damage == "foreign cpu":
                data["target"]["cpu"] = "znver4"
            elif damage == "foreign cores":
                data["target"]["cores"] += 64
            elif damage == "other kernel":
                data["kernel"] = "0" * 64
            elif damage == "impossible variant":
                data["choices"]["stream"]["width"] = 3
            else:
                del data["choices"]["cache"]
            payload = json.dumps(data).encode()
        cache.write(key, payload, ".wisdom")       # a valid checksum around bad content
    before = counts()
    variant, why = kernel_variant(LION, {}, "float32")
    assert why.startswith("the default shape: no wisdom")   # ignored, never trusted
    assert delta(before)["rejected"] == (0 if damage == "bytes" else 1)
    rebuilt, measured = tune(lion_job())
    assert measured and delta(before)["tuned"] == 1
    assert json.loads(cache.read(key, ".wisdom"))["target"] == wisdom.identity(default_target())
    assert tune(lion_job())[1] is False


def test_no_timing_when_tuning_is_off_or_settings_are_explicit(tuning, monkeypatch):
    tune(lion_job())
    stored = wisdom.load(*lion_job_key())
    before = counts()
    monkeypatch.setenv("ODYSSEY_TUNE", "0")
    variant, why = kernel_variant(LION, {}, "float32", elements=AUTO_TUNE_ELEMENTS * 4)
    assert variant == default_for("update", "float32", default_target())
    assert why.startswith("ODYSSEY_TUNE=0")
    monkeypatch.setenv("ODYSSEY_TUNE", "1")
    assert kernel_variant(LION, {}, "float32", width=4)[0].width == 4
    monkeypatch.setenv("ODYSSEY_SIMD_BITS", "128")
    assert "ODYSSEY_SIMD_BITS" in kernel_variant(LION, {}, "float32")[1]
    monkeypatch.delenv("ODYSSEY_SIMD_BITS")
    monkeypatch.setenv("ODYSSEY_TUNE", "maybe")
    with pytest.raises(ValueError, match="ODYSSEY_TUNE"):
        kernel_variant(LION, {}, "float32")
    assert delta(before) == {k: 0 for k in STATS}     # nothing loaded, nothing timed
    assert stored is not None


def lion_job_key():
    job = lion_job()
    return job.ident, job.kind, job.dtype, job.target


def test_a_large_group_tunes_once_in_the_background(tuning):
    before = counts()
    # a spec of its own: the process starts one background tuning per kernel
    spec = load_spec_text(LION.source.replace('name = "Lion"', 'name = "LionBg"'), "<bg>")
    cls = type("LionBg", (Optimizer,), {"spec": spec})
    n = AUTO_TUNE_ELEMENTS
    p = ot.Parameter(np.zeros(n, np.float32), np.ones(n, np.float32))
    opt = cls([p], lr=1e-3)
    opt.step()
    kernel = next(iter(opt._settings[0].kernels.values()))
    assert "tuning in the background" in kernel.why
    assert kernel.variant == default_for("update", "float32", default_target())
    wait_background(timeout=120)
    assert delta(before)["background"] == 1 and delta(before)["tuned"] == 1
    opt.step()                                  # this process keeps its kernel...
    assert next(iter(opt._settings[0].kernels.values())) is kernel
    fresh = cls([ot.Parameter(np.zeros(n, np.float32), np.ones(n, np.float32))], lr=1e-3)
    fresh.step()                                # ...a new optimizer finds the wisdom
    assert next(iter(fresh._settings[0].kernels.values())).why.startswith("wisdom")
    assert delta(before)["background"] == 1 and delta(before)["tuned"] == 1


def test_the_norm_pass_is_tuned_and_used_by_clipping(tuning):
    result, measured = tune(sumsq_job("float32"))
    assert measured and [s["stage"] for s in result.report["stream"]] == [
        "shape", "unroll", "prefetch", "rows"]
    opt = AdamW([ot.Parameter(np.ones(100, np.float32), np.ones(100, np.float32))],
                max_grad_norm=1.0)
    opt.step()
    assert opt.last_grad_norm == pytest.approx(10.0)
    assert compile_sumsq("float32", elements=100).variant == result.choices["cache"]
    assert compile_sumsq("float32", elements=10**8).variant == result.choices["stream"]


def test_cli_tune_prints_candidates_times_and_choice(tuning, capsys):
    assert cli.main(["tune", "lion", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "Lion float32" in out and "measured in" in out and "ns/element" in out
    assert out.count("  * ") >= 4 and "-> stream: " in out and "-> cache: " in out
    assert cli.main(["tune", "lion", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "wisdom of" in out and "0 kernel(s) measured, 1 from wisdom" in out
    assert cli.main(["show", "lion", "--asm"]) == 0
    head = capsys.readouterr().out.splitlines()[:3]
    assert head[2].startswith("; why: wisdom (stream class): fastest measured on this machine")


def test_choose_for_another_cpu_never_times(tuning):
    from odyssey_codegen.target import named_target
    other = named_target("znver2")
    before = counts()
    variant, why = choose("x", "update", "float32", other, None, 10**8, 10**9,
                          lambda: pytest.fail("must not build a job"))
    assert "not this machine" in why and delta(before) == {k: 0 for k in STATS}
    assert isinstance(variant, Variant)
    compile_kernel(LION, {}, "float32", target=other)


def test_a_forked_child_is_not_stuck_on_the_parents_compile_lock():
    """The background tuner compiles in a thread; a fork at that moment must not
    leave the child a held lock that no thread of the child will release."""
    import os

    from odyssey_codegen import jit
    with jit._lock:
        pid = os.fork()
        if pid == 0:
            os._exit(0 if jit._lock.acquire(timeout=5) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
