"""The original library's "Pattern 2: Custom Training Loop with Standard Components":
the library's Adam, cosine schedule and accuracy in a loop of your own.

Run: python examples/pattern2_custom_loop_standard_components.py [--epochs N]
"""

import argparse

from numpy_mlp import MLP, blobs

from odyssey_training.data import ArrayLoader
from odyssey_training.losses import CrossEntropyLoss
from odyssey_training.metrics import Accuracy
from odyssey_training.optimizers import Adam
from odyssey_training.schedulers import CosineAnnealingLR

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=100)
args = parser.parse_args()

x, y = blobs(1000)
train_loader = ArrayLoader(x, y, batch_size=50, seed=0)
model = MLP(16, 32, 4)
loss_fn = CrossEntropyLoss()

# Use standard optimizer and scheduler (the schedule counts steps: T_max covers the run)
optimizer = Adam(model.parameters(), lr=0.001)
scheduler = CosineAnnealingLR(optimizer, T_max=args.epochs * len(train_loader))
accuracy = Accuracy()

# Custom training loop logic
for epoch in range(args.epochs):
    accuracy.reset()
    for inputs, targets in train_loader:
        # Custom forward/backward pass
        outputs = model.forward(inputs)
        loss, grad = loss_fn(outputs, targets)
        model.backward(grad)
        grads = [p.grad for p in model.parameters()]

        # Standard optimizer step
        optimizer.step(model.parameters(), grads)
        optimizer.zero_grad()
        scheduler.step()
        accuracy.update(outputs, targets)
    if epoch % 20 == 0 or epoch == args.epochs - 1:
        print(f"epoch {epoch}: accuracy {accuracy.compute():.3f}  lr {scheduler.get_last_lr()[0]:.2e}")
