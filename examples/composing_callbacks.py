"""The original library's "Pattern 3: Composing Callbacks": a CallbackList of
EarlyStopping, ModelCheckpoint, CSVLogger and TensorBoardLogger, first driven by a
loop of your own (the hooks by hand), then handed to BasicTrainingLoop.

Run: python examples/composing_callbacks.py [--epochs N]   (needs the `train` extra)
"""

import argparse

from numpy_mlp import MLP, blobs

from odyssey_training.callbacks import (CallbackList, CSVLogger, EarlyStopping, ModelCheckpoint,
                                        TensorBoardLogger)
from odyssey_training.data import ArrayLoader
from odyssey_training.loops import BasicTrainingLoop, evaluate
from odyssey_training.losses import CrossEntropyLoss
from odyssey_training.optimizers import AdamW

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=30)
args = parser.parse_args()

x, y = blobs(1200)
train_data = ArrayLoader(x[:1000], y[:1000], batch_size=32, seed=0)
val_data = ArrayLoader(x[1000:], y[1000:], batch_size=200, shuffle=False)


def make_callbacks(tag):
    return CallbackList([
        EarlyStopping(patience=10),
        ModelCheckpoint(f"checkpoints/{tag}-epoch{{epoch:03d}}.safetensors", save_top_k=1),
        CSVLogger(f"training-{tag}.log"),
        TensorBoardLogger(f"logs/{tag}"),
    ])


class Run:
    """What the callbacks reach through ``self.loop``: any object with these attributes."""

    def __init__(self, model, optimizer):
        self.model, self.optimizer, self.scheduler = model, optimizer, None
        self.stop_training, self.is_global_zero = False, True
        self.epoch = self.global_step = self.batches_done = 0
        self.params = {"epochs": args.epochs, "steps": len(train_data)}


# 1. By hand: your loop calls the hooks (as the original's Pattern 3)
model, loss_fn = MLP(16, 32, 4), CrossEntropyLoss()
optimizer = AdamW(model.parameters(), lr=1e-3)
run = Run(model, optimizer)
callbacks = make_callbacks("by-hand")
callbacks.set_loop(run)
callbacks.on_train_begin({})
for epoch in range(args.epochs):
    run.epoch = epoch
    callbacks.on_epoch_begin(epoch)
    for inputs, targets in train_data:          # training logic
        loss, grad = loss_fn(model.forward(inputs), targets)
        model.backward(grad)
        optimizer.step()
        optimizer.zero_grad()
        run.global_step += 1
    logs = {f"val_{k}": v for k, v in evaluate(model, val_data, loss=loss_fn).items()}
    callbacks.on_epoch_end(epoch, logs)
    if run.stop_training:
        break
callbacks.on_train_end(logs)
print(f"by hand: {epoch + 1} epochs, val_loss {logs['val_loss']:.4f}")

# 2. The same list given to the loop, which calls every hook itself
model = MLP(16, 32, 4)
loop = BasicTrainingLoop(model, AdamW(model.parameters(), lr=1e-3),
                         callbacks=[make_callbacks("loop")])
history = loop.fit(train_data, val_data, epochs=args.epochs)
print(f"loop: {len(history.epoch)} epochs, val_loss {history.history['val_loss'][-1]:.4f}; "
      "logs in training-*.log and logs/, checkpoints in checkpoints/")
