"""200 steps of a small torch MLP: ours (odyssey_training.interop.torch.X) and
torch.optim.X(foreach=False) from the same seed end with equal parameters, for
every optimizer and every flag/hyperparameter case of the optimizer tests'
table (tests/optimizers/reference.py: CASES); Lion against the paper's
algorithm written in torch ops (torch.optim has no Lion).

The gradients come from the model itself, so any difference feeds back.  The
hyperparameters are drawn where 200 steps still descend (helpers.mlp_hyper
says why); there the two trajectories stay within float32 rounding.  Over ten
seeds per case, 287 of 290 float32 runs stayed within 5e-6 of the scale; the
other three were two Lion runs with weight decay (a sign flip of an argument
within rounding of zero changes a step by 2 lr) and one centered RMSprop with
momentum 0.6, where the trajectory amplifies rounding.  The seeds here are
fixed (one per case)."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import ALL_CASES, ALL_IDS, Twins, torch

#: |ours - torch| <= rtol |torch| + atol_frac max|torch|, per parameter tensor
TOLERANCES = {torch.float32: (1e-5, 1e-5), torch.float64: (1e-11, 1e-11)}
STEPS = 200


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,case", ALL_CASES, ids=ALL_IDS)
def test_200_steps_match_torch(name, case, dtype):
    twins = Twins(name, case, seed=ALL_CASES.index((name, case)) + 1,
                  dtype=dtype)
    start = [p.detach().clone() for p in twins.ours_model.parameters()]
    for step in range(STEPS):
        twins.step(step)
    rtol, atol_frac = TOLERANCES[dtype]
    for i, (ours, theirs) in enumerate(twins.pairs()):
        a, b = ours.detach().double().numpy(), theirs.detach().double().numpy()
        bound = rtol * np.abs(b) + atol_frac * np.abs(b).max()
        worst = float(np.max(np.abs(a - b) - bound))
        assert worst <= 0, (f"{name} {twins.hyper} {dtype}: parameter {i} differs from torch "
                            f"by up to {float(np.max(np.abs(a - b))):.3g}")
        assert not torch.equal(ours, start[i]), "the parameters did not move"
