"""The original library's "Custom Training Loop Example", in Python: your own loop,
the library's optimizer and metric, the stateless ``optimizer.step(params, grads)``.

Run: python examples/custom_training_loop.py [--epochs N]
"""

import argparse

from numpy_mlp import MLP, blobs

from odyssey_training.data import ArrayLoader
from odyssey_training.losses import CrossEntropyLoss
from odyssey_training.metrics import Accuracy
from odyssey_training.optimizers import SGD

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=10)
args = parser.parse_args()


def custom_training_loop(model, optimizer, train_data, epochs):
    """Custom training loop for paper-specific needs."""
    compute_loss = CrossEntropyLoss()
    for epoch in range(epochs):
        total_loss = 0.0
        accuracy = Accuracy()
        for inputs, targets in train_data:
            # Forward pass
            outputs = model.forward(inputs)
            loss, grad_outputs = compute_loss(outputs, targets)

            # Backward pass: gradients accumulate into each Parameter.grad
            model.backward(grad_outputs)
            params = model.parameters()
            grads = [p.grad for p in params]

            # Optimizer step (from training library): arrays updated in place
            optimizer.step(params, grads)
            for p in params:
                p.grad = None

            # Track metrics (from training library)
            total_loss += loss
            accuracy.update(outputs, targets)

        # Paper-specific logging or validation
        print("Epoch:", epoch, "Loss:", round(total_loss / len(train_data), 4))
        print("Accuracy:", round(accuracy.compute(), 4))


x, y = blobs(1000)
custom_training_loop(MLP(16, 32, 4), SGD(learning_rate=0.05, momentum=0.9),
                     ArrayLoader(x, y, batch_size=32, seed=0), args.epochs)
