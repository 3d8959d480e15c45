"""A user's own optimizer spec: compiled at run time by load_spec, or rendered
to an importable module by `odyssey-codegen generate SPEC --out DIR`."""

import importlib
import subprocess
import sys

import numpy as np
import pytest

import odyssey_training as ot
from odyssey_training.optimizers import Optimizer

SPEC = "examples/adabelief.toml"


def adabelief_reference(p, grads, lr, b1, b2, eps, wd):
    """AdaBelief, Algorithm 2 of Zhuang et al. (2020) with decoupled decay, float64."""
    m = np.zeros_like(p)
    s = np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        p = p * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps
        m_hat, s_hat = m / (1 - b1 ** t), s / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(s_hat) + eps)
    return p, m, s


def test_load_spec_matches_the_paper():
    AdaBelief = ot.load_spec(SPEC)
    assert issubclass(AdaBelief, Optimizer) and AdaBelief.__name__ == "AdaBelief"
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal(37)
    grads = [rng.standard_normal(37) for _ in range(25)]
    w = ot.Parameter(p0.copy())
    opt = AdaBelief([w], lr=0.01, betas=(0.8, 0.95), eps=1e-8, weight_decay=0.1)
    for g in grads:
        w.grad = g
        opt.step()
    p, m, s = adabelief_reference(p0, grads, 0.01, 0.8, 0.95, 1e-8, 0.1)
    np.testing.assert_allclose(w.data, p, rtol=1e-12, atol=1e-14)
    state = opt.state_dict()["state"][0]
    np.testing.assert_allclose(state["exp_avg"], m, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(state["exp_avg_var"], s, rtol=1e-12, atol=1e-14)
    assert state["step"] == 25


def test_load_spec_rejects_a_broken_spec_up_front(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(open(SPEC).read().replace('"d = g - exp_avg"', '"d = g - exp_avgg"'))
    with pytest.raises(ot.SpecError, match="unknown name 'exp_avgg'"):
        ot.load_spec(bad)


def test_generated_module_is_importable_and_trains(tmp_path, monkeypatch):
    out = subprocess.run([sys.executable, "-m", "odyssey_codegen.cli", "generate", SPEC,
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("adabelief")
    opt_cls = module.AdaBelief
    assert "Zhuang et al." in opt_cls.__doc__ and "exp_avg_var" in opt_cls.__doc__
    w = ot.Parameter(np.array([2.0, -3.0]))
    opt = opt_cls([w], lr=0.1, decoupled=False, weight_decay=0.01)
    for _ in range(100):
        w.grad = 2 * w.data
        opt.step()
    assert np.all(np.abs(w.data) < 0.5)
    import doctest
    assert doctest.testmod(module).failed == 0
