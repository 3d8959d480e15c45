"""The issue's benchmark targets, each PASS / MISS / n/a, with the paired ratio
and its interquartile range, and where ours stands against the machine's
measured memory limit (bench/limit.py)."""

from __future__ import annotations

__all__ = ["evaluate_targets", "fmt_target", "find_case"]

#: optimizers held to "ahead of torch's fastest variant" on GPT-2 (AdamW: 1.05x fused)
AHEAD = ("sgd_momentum", "adam", "rmsprop", "adagrad")
#: optimizers torch has a fused CPU step for (the LeNet-5 target)
FUSED = ("sgd_momentum", "adam", "adamw", "adagrad")


def find_case(results: dict, opt: str, shapes: str, dtype: str, threads: int) -> dict | None:
    return next((c for c in results["cases"] if (c["optimizer"], c["shapes"], c["dtype"],
                                                  c["threads"]) == (opt, shapes, dtype, threads)),
                None)


def _target(text: str, case: dict, value: float | None, threshold: float, fmt: str = "ratio",
            below: bool = False, pair: str | None = None) -> dict:
    out = {"target": text, "measured": value, "threshold": threshold, "format": fmt,
           "status": "n/a"}
    if value is None:
        return out
    out["status"] = "PASS" if (value < threshold if below else value >= threshold) else "MISS"
    spread = case.get("paired_ratio_quartiles", {}).get(pair) if pair else None
    if spread:
        out["quartiles"] = [spread[0], spread[2]]
    if "limit" in case:
        out["limit"] = {"fraction": case["limit"]["fraction"], "bound": case["limit"]["bound"]}
    return out


def evaluate_targets(results: dict) -> list[dict]:
    out = []
    threads = sorted({c["threads"] for c in results["cases"]}) or [1, 2]
    for t in threads:
        c = find_case(results, "adamw", "gpt2", "float32", t) or {}
        out.append(_target(f"AdamW f32 GPT-2, {t} thread(s): >= 1.05x torch fused", c,
                           c.get("speedup_vs", {}).get("torch_fused"), 1.05,
                           pair="torch_fused/ours"))
        out.append(_target(f"AdamW f32 GPT-2, {t} thread(s): max_grad_norm >= 1.2x torch "
                           "clip_grad_norm_ + fused (byte bound 1.25x)", c,
                           c.get("clip_speedup"), 1.2, pair="torch_clip_fused/ours_clip"))
    for opt in AHEAD:
        for t in threads:
            c = find_case(results, opt, "gpt2", "float32", t) or {}
            out.append(_target(f"{opt} f32 GPT-2, {t} thread(s): ahead of torch's fastest "
                               "variant", c, c.get("speedup_vs_torch_fastest"), 1.0))
    for opt in FUSED:
        for t in threads:
            c = find_case(results, opt, "lenet", "float32", t) or {}
            out.append(_target(f"{opt} f32 LeNet-5, {t} thread(s): >= 3x faster than torch "
                               "fused per step", c, c.get("speedup_vs", {}).get("torch_fused"),
                               3.0, pair="torch_fused/ours"))
    start = results.get("startup", {})
    warm = start.get("warm", {})
    out.append(_target("warm start (import + first AdamW step, full cache) < 0.3 s", {},
                       warm.get("import_and_first_step_s"), 0.3, "seconds", below=True))
    if warm:
        out.append(_target("warm start compiles nothing (kernels compiled = 0)", {},
                           float(warm.get("compiled", 0)), 0.5, "count", below=True))
    out.append(_target("cold compile of all standard f32 kernels < 3 s", {},
                       start.get("cold", {}).get("compile_s"), 3.0, "seconds", below=True))
    return out


def fmt_target(t: dict) -> str:
    """``1.07x [1.02x–1.11x]`` (quartiles of the per-round ratio), or "not measured"."""
    v = t["measured"]
    if v is None:
        return "not measured"
    fmt = {"percent": "{:.1%}", "seconds": "{:.3f} s", "count": "{:.0f}"}.get(
        t.get("format"), "{:.2f}x")
    text = fmt.format(v)
    if "quartiles" in t:
        text += " [" + "–".join(fmt.format(q) for q in t["quartiles"]) + "]"
    return text
