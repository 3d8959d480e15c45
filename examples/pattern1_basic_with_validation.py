"""The original library's "Pattern 1: Basic Training with Validation".

Run: python examples/pattern1_basic_with_validation.py [--epochs N]
"""

import argparse

from numpy_mlp import MLP, blobs

from odyssey_training.callbacks import EarlyStopping, ModelCheckpoint
from odyssey_training.data import ArrayLoader
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.optimizers import SGD

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=100)
args = parser.parse_args()

x, y = blobs(1200)
train_data = ArrayLoader(x[:1000], y[:1000], batch_size=32, seed=0)
val_data = ArrayLoader(x[1000:], y[1000:], batch_size=200, shuffle=False)
model = MLP(16, 32, 4)
optimizer = SGD(model.parameters(), lr=0.05, momentum=0.9)

loop = BasicTrainingLoop(model, optimizer)          # CrossEntropyLoss by default
loop.add_callback(EarlyStopping(patience=10))      # monitors val_loss
loop.add_callback(ModelCheckpoint("best_model.safetensors", save_best_only=True))
history = loop.fit(train_data, val_data, epochs=args.epochs)

print(f"stopped after {len(history.epoch)} epochs; best val_loss "
      f"{min(history.history['val_loss']):.4f} in best_model.safetensors")
