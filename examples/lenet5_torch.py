"""LeNet-5 in PyTorch, trained by odyssey-training's loop and optimizer.

Run: python examples/lenet5_torch.py        (needs the torch and train extras)

The model is a torch ``nn.Module``; ``TorchModel`` puts it behind the loop's
Model protocol (zero-copy parameters, autograd backward), so the loop, the
generated AdamW kernel, the metrics and the checkpoints work on it unchanged.
The data are the 8x8 UCI digits that ship with the package, upsampled to
LeNet's 32x32 input.  ``odyssey-train --model lenet5`` runs the same model with
the main job's logging, checkpoints and report.
"""

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # torch's idle threads yield the cores

import torch  # noqa: E402

from odyssey_training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from odyssey_training.data import ArrayLoader  # noqa: E402
from odyssey_training.interop.torch import TorchModel  # noqa: E402
from odyssey_training.job.datasets import load_dataset  # noqa: E402
from odyssey_training.job.lenet import LeNet5, to_32x32  # noqa: E402
from odyssey_training.loops import BasicTrainingLoop, evaluate  # noqa: E402
from odyssey_training.losses import CrossEntropyLoss  # noqa: E402
from odyssey_training.metrics import Accuracy  # noqa: E402
from odyssey_training.optimizers import AdamW  # noqa: E402
from odyssey_training.schedulers import CosineAnnealingLR  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=10)
epochs = parser.parse_args().epochs

torch.manual_seed(0)
data = load_dataset("digits", val_fraction=0.2, seed=0)     # standardized (N, 8, 8) float32
train = ArrayLoader(to_32x32(data.x_train), data.y_train, batch_size=64, seed=0)
val = ArrayLoader(to_32x32(data.x_val), data.y_val, batch_size=512, shuffle=False)

model = TorchModel(LeNet5(num_classes=10))
opt = AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)   # updates the tensors in place
loop = BasicTrainingLoop(model, opt, loss=CrossEntropyLoss(),
                         scheduler=CosineAnnealingLR(opt, T_max=epochs),
                         metrics={"acc": Accuracy(num_classes=10)}, seed=0)
history = loop.fit(train, val_data=val, epochs=epochs)
for epoch, (loss, acc) in enumerate(zip(history.history["val_loss"],
                                        history.history["val_acc"]), 1):
    print(f"epoch {epoch:2d}  val_loss {loss:.4f}  val_acc {acc:.3f}")

save_checkpoint("lenet5.safetensors", model=model, optimizer=opt)   # conv1.weight, ...
fresh = TorchModel(LeNet5(num_classes=10))
load_checkpoint("lenet5.safetensors", model=fresh)
print("reloaded:", evaluate(fresh, val, loss=CrossEntropyLoss(),
                            metrics={"acc": Accuracy(num_classes=10)}))
os.remove("lenet5.safetensors")
