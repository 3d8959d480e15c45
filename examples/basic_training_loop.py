"""The original library's "Basic Training Loop Example", in Python.

Adam, a cosine schedule, loss and accuracy metrics, EarlyStopping on val_loss and
ModelCheckpoint on val_acc, run by BasicTrainingLoop.fit.

Run: python examples/basic_training_loop.py [--epochs N]
"""

import argparse

from numpy_mlp import MLP, blobs

from odyssey_training.callbacks import EarlyStopping, ModelCheckpoint
from odyssey_training.data import ArrayLoader
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.losses import CrossEntropyLoss
from odyssey_training.metrics import Accuracy, LossTracker
from odyssey_training.optimizers import Adam
from odyssey_training.schedulers import CosineAnnealingLR

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=100)
args = parser.parse_args()

x, y = blobs(1200)
train_loader = ArrayLoader(x[:1000], y[:1000], batch_size=32, seed=0)
val_loader = ArrayLoader(x[1000:], y[1000:], batch_size=200, shuffle=False)
my_model = MLP(16, 32, 4)

# Create optimizer (the original library's argument names work as they are)
optimizer = Adam(my_model.parameters(), learning_rate=0.001, beta1=0.9, beta2=0.999,
                 epsilon=1e-8)

# Create learning rate scheduler
scheduler = CosineAnnealingLR(optimizer=optimizer, T_max=100, eta_min=1e-6)

# Create metrics: validation uses fresh copies of the same metrics (val_loss, val_acc)
train_loss = LossTracker()
train_acc = Accuracy()

# Create callbacks
early_stopping = EarlyStopping(monitor="val_loss", patience=10, mode="min")
checkpoint = ModelCheckpoint(filepath="checkpoints/best_model.safetensors", monitor="val_acc",
                             mode="max", save_best_only=True)

# Create and run training loop
loop = BasicTrainingLoop(
    model=my_model,
    optimizer=optimizer,
    loss=CrossEntropyLoss(),
    scheduler=scheduler,
    metrics={"loss_tracker": train_loss, "acc": train_acc},
    callbacks=[early_stopping, checkpoint],
)

history = loop.fit(train_data=train_loader, val_data=val_loader, epochs=args.epochs)

last = history.epoch[-1]
print(f"epochs run: {len(history.epoch)}  val_loss {history.history['val_loss'][-1]:.4f}  "
      f"val_acc {history.history['val_acc'][-1]:.3f}  lr {history.history['lr'][-1]:.2e}")
print(f"best val_acc {checkpoint.best:.3f} saved to checkpoints/best_model.safetensors")
