"""The generated kernels as drop-in torch.optim optimizers, in a plain PyTorch loop.

Run: python examples/torch_optimizer_dropin.py        (needs the torch extra)

``odyssey_training.interop.torch.AdamW`` takes torch.optim.AdamW's arguments and is
a ``torch.optim.Optimizer``: param groups, torch's lr schedulers, hooks,
``clip_grad_norm_`` and ``state_dict()`` work as with torch's, and a state dict
moves between the two in both directions.  ``step()`` runs the native kernel
on the tensors' memory, in place.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from odyssey_training.interop.torch import AdamW  # noqa: E402

torch.manual_seed(0)
x = torch.randn(1024, 20)
y = (x[:, :4].sum(1) > 0).long() + (x[:, 4:8].sum(1) > 0).long()       # 3 classes
model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3))

decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
opt = AdamW([{"params": decay, "weight_decay": 1e-2},
             {"params": no_decay, "weight_decay": 0.0}], lr=1e-2, max_grad_norm=1.0)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-2, total_steps=200)

for step in range(1, 201):
    batch = torch.randint(0, len(x), (64,))
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
    loss.backward()
    opt.step()                    # one native call per group, each group clipped to norm 1
    sched.step()
    if step % 50 == 0:
        accuracy = (model(x).argmax(1) == y).float().mean().item()
        print(f"step {step:3d}  loss {loss.item():.4f}  accuracy {accuracy:.3f}")

# the state dict is torch's: torch.optim.AdamW continues from it
theirs = torch.optim.AdamW([{"params": decay}, {"params": no_decay}])
theirs.load_state_dict(opt.state_dict())
print("torch.optim.AdamW resumed at step", int(theirs.state[decay[0]]["step"]))
