"""A new optimizer as a spec: AdaBelief from examples/adabelief.toml, compiled at
run time, trains a least-squares model.

Run: python examples/train_user_spec.py
"""

from pathlib import Path

import numpy as np

import odyssey_training as ot

AdaBelief = ot.load_spec(Path(__file__).with_name("adabelief.toml"))

rng = np.random.default_rng(1)
a = rng.standard_normal((256, 8))
target = rng.standard_normal(8)
rhs = a @ target
x = ot.Parameter(np.zeros(8), name="x")
opt = AdaBelief([x], lr=0.1, betas=(0.9, 0.999))

for step in range(1, 301):
    residual = a @ x.data - rhs
    x.grad = a.T @ residual / len(rhs)
    opt.step()
    if step == 1 or step % 60 == 0:
        print(f"step {step:3d}  loss {0.5 * np.mean(residual ** 2):.6f}")
print("distance to the solution:", float(np.linalg.norm(x.data - target)))
